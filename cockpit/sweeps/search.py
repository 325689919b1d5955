"""The Optuna search behind `cockpit tune --search`: trials asked and told by this process alone,
their seeds run as ordinary `cockpit` subprocesses by the launcher.

Why ask-and-tell in one thread rather than `study.optimize(n_jobs=...)`: the parent process is
then the storage's only client (a local SQLite file never sees two writers, so no 'database is
locked'), pruning can stop a trial's seed processes the moment the median says so, and the
workers slots are shared between trials by the launcher. Heartbeats are recorded here for every
running trial; a trial whose worker died goes stale after 2 × --heartbeat seconds, is failed by
whichever worker notices first and re-queued (Optuna's retry callback) with the same parameters.
With a PostgreSQL URL, the same command on several machines joins one study (its name is derived
from the preset, the search space and the seeds) and `--trials` counts the study's trials, all
workers together.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.engine.config import Config, ConfigError, apply_overrides
from cockpit.sweeps import aggregate, plan
from cockpit.sweeps.launcher import POLL_S, Display, Job, Launcher
from cockpit.sweeps.search_settings import SearchSettings
from cockpit.sweeps.space import Dimension, override, parse_search, short

if TYPE_CHECKING:
    import optuna

STORAGE_RETRIES = 5
IDLE_POLL_S = 1.0


@dataclass
class ActiveTrial:
    """A trial this worker runs: its Optuna handle, its seed jobs, what it has reported."""

    trial: optuna.Trial
    jobs: list[Job] = field(default_factory=list)
    reported: set[int] = field(default_factory=set)
    told: bool = False

    @property
    def label(self) -> str:
        return f"trial {self.trial.number}"


def study_name(base: Config, dims: list[Dimension], seeds: list[int], score: aggregate.Score) -> str:
    """Same preset (after --set), same search, same seeds and score → same study, on any machine."""
    blob = json.dumps(
        [base.to_dict(), [d.describe() for d in dims], seeds, score.describe()], sort_keys=True, default=str
    )
    return f"cockpit-{base.name}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def open_storage(url: str, heartbeat: int):
    """An RDB storage with heartbeats and stale-trial retry. Table creation by two workers starting
    at once can collide in PostgreSQL; it is retried a few times before giving up."""
    import optuna
    import sqlalchemy.exc

    storages = optuna.storages
    retry = getattr(storages, "RetryHeartbeatStaleTrialCallback", None)
    callback = (
        {"heartbeat_stale_trial_callback": retry(max_retry=3)}
        if retry
        else {"failed_trial_callback": storages.RetryFailedTrialCallback(max_retry=3)}
    )
    engine_kwargs = {"pool_pre_ping": True} if not url.startswith("sqlite") else {}
    for attempt in range(STORAGE_RETRIES):
        try:
            return storages.RDBStorage(
                url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat, grace_period=2 * heartbeat, **callback
            )
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == STORAGE_RETRIES - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
        except ImportError as e:  # optuna wraps the driver's ModuleNotFoundError
            missing = getattr(e.__cause__, "name", None) or getattr(e, "name", None) or "its database driver"
            raise ConfigError(
                f"--storage {safe_url(url)}: {missing} is not installed "
                "(pip install 'cockpit[postgres]' for PostgreSQL)"
            ) from None
        except (sqlalchemy.exc.SQLAlchemyError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConfigError(f"--storage {safe_url(url)}: cannot open ({first})") from None


def safe_url(url: str) -> str:
    """The URL without its password, for printing."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.rpartition("@")[2]


def counted_trials(trials) -> tuple[int, int, int]:
    """(trials that count toward --trials, waiting, running). A failed trial that was re-queued
    (stale, or interrupted) does not count: its retry does."""
    import optuna

    State = optuna.trial.TrialState
    retried = set()
    for t in trials:
        retried.update(optuna.storages.RetryFailedTrialCallback.retry_history(t))
        if "retry_of" in t.user_attrs:
            retried.add(t.user_attrs["retry_of"])
    counted = sum(not (t.state == State.FAIL and t.number in retried) for t in trials)
    return counted, sum(t.state == State.WAITING for t in trials), sum(t.state == State.RUNNING for t in trials)


class Search:
    def __init__(
        self,
        study,
        storage,
        settings: SearchSettings,
        base: Config,
        dims: list[Dimension],
        seeds: list[int],
        out: Path,
    ):
        self.study, self.storage, self.settings, self.base = study, storage, settings, base
        self.dims, self.seeds, self.out = dims, seeds, out
        self.display = Display(sys.stdout, f"search {study.study_name}")
        self.launcher = Launcher(settings.workers, self.display)
        self.active: list[ActiveTrial] = []
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.last_beat = self.last_stale_check = -math.inf
        self.waiting_said = False

    def run(self) -> int:
        """Ask, run, report, prune and tell until the study has its trials and none is running."""
        try:
            while True:
                self.beat()
                evals, ended = self.launcher.poll()
                for job, _ in evals:
                    self.report(job.tag)
                for job in ended:
                    self.finish(job.tag)
                if self.launcher.free >= min(len(self.seeds), self.settings.workers) and not self.start_trial():
                    if not self.active and self.launcher.idle() and self.study_done():
                        break
                # idle here means waiting on other workers' trials: ask the storage less often
                time.sleep(POLL_S if self.active else IDLE_POLL_S)
        except KeyboardInterrupt:
            self.interrupt()
            return 130
        self.display.close()
        return 0

    # ------------------------------------------------------------ trials
    def start_trial(self) -> bool:
        """Ask for a trial (a re-queued one first) and launch its seeds; False if none is due."""
        import optuna

        self.fail_stale()
        counted, waiting, _ = counted_trials(self.study.get_trials(deepcopy=False))
        if not waiting and counted >= self.settings.trials:
            return False
        trial = self.study.ask()
        # Trial has no public id; the storage's heartbeat API is keyed by it. From here on the trial
        # goes stale only if this worker stops beating.
        self.storage.record_heartbeat(trial._trial_id)
        params = {d.key: d.suggest(trial) for d in self.dims}
        overrides = [override(key, value) for key, value in params.items()]
        trial.set_user_attr("overrides", overrides)
        trial.set_user_attr("worker", self.worker)
        described = " ".join(f"{key}={short(value)}" for key, value in params.items())
        try:
            config = apply_overrides(self.base.to_dict(), overrides, f"trial {trial.number}", self.base.name)
        except ConfigError as e:
            trial.set_user_attr("error", str(e))
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
            self.display.line(f"trial {trial.number}: failed before starting: {e}")
            return True
        active = ActiveTrial(trial)
        directory = self.out / "trials" / f"t{trial.number:04d}"
        trial.set_user_attr("directory", str(directory))
        active.jobs = plan.seed_jobs(
            self.settings.preset,
            [*self.settings.overrides, *overrides],
            self.seeds,
            directory,
            f"t{trial.number} ",
            config.run.total_steps,
            tag=active,
        )
        for job in active.jobs:
            self.launcher.submit(job)
        self.active.append(active)
        frozen = self.storage.get_trial(trial._trial_id)
        retry = trial.user_attrs.get("retry_of", optuna.storages.RetryFailedTrialCallback.retried_trial_number(frozen))
        again = f" (retry of trial {retry})" if retry is not None else ""
        self.display.line(f"trial {trial.number} started{again}: {described}")
        self.waiting_said = False
        return True

    def report(self, active: ActiveTrial) -> None:
        """Report the mean over the trial's seeds at each evaluation step all of them have reached,
        and prune when the pruner says the trial is behind."""
        import optuna

        if active.told:
            return
        per_job = [{e["step"]: e["mean"] for e in job.evals} for job in active.jobs]
        common = set(per_job[0]).intersection(*per_job[1:]) - active.reported
        for step in sorted(common):
            value = sum(evals[step] for evals in per_job) / len(per_job)
            active.reported.add(step)
            try:
                active.trial.report(value, step)
                prune = active.trial.should_prune()
            except optuna.exceptions.UpdateFinishedTrialError:
                self.abandon(active, "was failed by another worker (missed heartbeats); stopping its runs")
                return
            if prune:
                self.tell(active, state=optuna.trial.TrialState.PRUNED)
                self.stop_jobs(active)
                self.display.line(f"trial {active.trial.number}: pruned at step {step:,} (seed mean {value:.1f})")
                return

    def finish(self, active: ActiveTrial) -> None:
        """When all its seeds have ended: the trial's value (the IQM over seeds of each seed's score), or a failure."""
        import optuna

        if not all(job.done for job in active.jobs):
            return
        self.active = [a for a in self.active if a is not active]
        if active.told:
            return
        failed = [job for job in active.jobs if job.returncode != 0]
        scores = [self.settings.score.of([e["mean"] for e in job.evals]) for job in active.jobs]
        if failed or not all(math.isfinite(s) for s in scores):
            why = (
                f"seed run {failed[0].label.strip()} exited {failed[0].returncode} (see {failed[0].log})"
                if failed
                else "a seed has no scheduled evaluation (is run.eval_freq > run.total_steps?)"
            )
            active.trial.set_user_attr("error", why)
            self.tell(active, state=optuna.trial.TrialState.FAIL)
            self.display.line(f"trial {active.trial.number}: failed: {why}")
            return
        value = float(aggregate.iqm(scores))
        try:
            active.trial.set_user_attr("seed_scores", scores)
        except optuna.exceptions.UpdateFinishedTrialError:
            active.told = True
            self.display.line(
                f"trial {active.trial.number}: ended, but another worker had already failed it "
                "(missed heartbeats); its retry counts instead"
            )
            return
        self.tell(active, values=value)
        self.display.line(
            f"trial {active.trial.number}: score {value:.1f} (IQM over seeds; per seed "
            + " ".join(f"{s:.1f}" for s in scores)
            + ")"
        )

    def tell(self, active: ActiveTrial, **kwargs) -> None:
        active.told = True
        self.study.tell(active.trial, skip_if_finished=True, **kwargs)

    def stop_jobs(self, active: ActiveTrial) -> None:
        for job in active.jobs:
            self.launcher.cancel(job)
        self.finish(active)

    def abandon(self, active: ActiveTrial, why: str) -> None:
        active.told = True
        self.display.line(f"trial {active.trial.number}: {why}")
        self.stop_jobs(active)

    # ------------------------------------------------------- liveness
    def beat(self) -> None:
        now = time.monotonic()
        if now - self.last_beat < self.settings.heartbeat:
            return
        self.last_beat = now
        for active in self.active:
            if not active.told:
                self.storage.record_heartbeat(active.trial._trial_id)

    def fail_stale(self) -> None:
        """Fail (and so re-queue) trials whose worker stopped beating; at most once a heartbeat."""
        import optuna

        now = time.monotonic()
        if now - self.last_stale_check >= self.settings.heartbeat:
            self.last_stale_check = now
            optuna.storages.fail_stale_trials(self.study)

    def study_done(self) -> bool:
        """Nothing left to ask and nothing running anywhere (another worker's trial could still go
        stale and come back for us to run)."""
        self.fail_stale()
        counted, waiting, running = counted_trials(self.study.get_trials(deepcopy=False))
        if running and not self.waiting_said:
            self.display.line(f"waiting for {running} trial(s) running in other workers")
            self.waiting_said = True
        return counted >= self.settings.trials and not waiting and not running

    def interrupt(self) -> None:
        """Ctrl-C: re-queue this worker's unfinished trials with their parameters, so that resuming
        the study (the same command) runs them again, then stop the runs gracefully."""
        import optuna

        for active in self.active:
            if not active.told:
                self.study.enqueue_trial(active.trial.params, user_attrs={"retry_of": active.trial.number})
                self.tell(active, state=optuna.trial.TrialState.FAIL)
        self.launcher.interrupt()


def run_search(settings: SearchSettings, base: Config, seeds: list[int]) -> int:
    try:
        import optuna
    except ModuleNotFoundError:
        raise ConfigError("--search needs optuna: pip install 'cockpit[sweeps]'") from None
    from cockpit.sweeps.search_report import write_report

    dims = parse_search(settings.search, base)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # Heartbeats are recorded by Search itself for ask-and-tell trials (see the module docstring).
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    storage = (
        open_storage(settings.storage, settings.heartbeat) if settings.storage else None
    )  # a bad URL creates nothing
    out = plan.sweep_dir(settings.out, "search", base, resume=True)
    url = settings.storage or f"sqlite:///{(out / 'study.db').resolve()}"
    storage = storage or open_storage(url, settings.heartbeat)
    name = settings.study or study_name(base, dims, seeds, settings.score)
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=base.run.total_steps // 4)
        if settings.pruner == "median"
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        direction="maximize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=settings.sampler_seed),
        pruner=pruner,
    )
    check_study(study, settings, dims, seeds)
    existing = len(study.get_trials(deepcopy=False))
    print(
        f"cockpit tune --search: study {name} in {safe_url(url)}" + (f" ({existing} trials so far)" if existing else "")
    )
    print(
        f"  {', '.join(d.describe() for d in dims)}; {settings.trials} trials × seeds {seeds[0]}..{seeds[-1]}, "
        f"{settings.workers} runs at a time → {out}",
        flush=True,
    )
    code = Search(study, storage, settings, base, dims, seeds, out).run()
    write_report(study, settings, base, dims, seeds, out, safe_url(url))
    if code == 130:
        print(f"interrupted: the unfinished trials are queued again; resume with the same command and --out {out}")
    return code


def check_study(study, settings: SearchSettings, dims: list[Dimension], seeds: list[int]) -> None:
    """A study remembers what it searches; joining it with another search or other seeds would mix
    scores that mean different things."""
    setup = {"search": [d.describe() for d in dims], "seeds": seeds, "score": settings.score.describe()}
    known = study.user_attrs.get("cockpit")
    if known is None:
        study.set_user_attr("cockpit", {**setup, "preset": str(settings.preset), "overrides": list(settings.overrides)})
    elif {k: known.get(k) for k in setup} != setup:
        raise ConfigError(
            f"study {study.study_name}: was started with search {known.get('search')}, seeds "
            f"{known.get('seeds')}, score {known.get('score')!r}; use another --study or --out"
        )
