"""The one place that builds the cockpit app: on a run in this process (`cockpit PRESET`), or on a
run in another (`cockpit attach`, live or read-only); the commands and the tests share it."""

from __future__ import annotations

from pathlib import Path

from cockpit.engine.config import Config, ConfigError
from cockpit.engine.contract import RunState
from cockpit.engine.control import Control
from cockpit.engine.history import load_history
from cockpit.engine.metrics import MetricsStore
from cockpit.presets import run_dir_config
from cockpit.remote.client import CONNECT_TIMEOUT_S, Connection, ConnectionLost, RemoteControl, RemoteStore
from cockpit.remote.protocol import ProtocolError
from cockpit.remote.runs import probe
from cockpit.ui.app import REFRESH_S, SHOWN_EVERY, CockpitApp
from cockpit.ui.baseline import Baseline, load_baseline, parent_run


def title_of(config: Config) -> str:
    return f"cockpit · {config.env.id} · {config.name} · seed {config.run.seed}"


def create_app(
    config: Config,
    run_dir: Path | None,
    checkpoint: Path | None = None,
    fork: bool = False,
    changes=(),
    refresh_s: float = REFRESH_S,
    baseline: Baseline | None = None,
) -> CockpitApp:
    """The cockpit on a new (or resumed, or forked) run; the trainer is built in the app's worker
    thread, so the first frame does not wait for torch."""
    control, store = Control(), MetricsStore()

    def make_trainer():
        from cockpit.engine.trainer import Trainer

        trainer = Trainer(config, run_dir, control=control, store=store, on_non_finite="pause", changes=changes)
        if checkpoint is not None:
            trainer.resume_from(checkpoint, fork=fork)
        return trainer

    def render_episode(policy: dict, number: int):
        from cockpit.engine import seeding
        from cockpit.engine.rendering import play_greedy

        return play_greedy(config, policy, seeding.derive(config.run.seed, seeding.RENDER, number), every=SHOWN_EVERY)

    return CockpitApp(
        title_of(config), control, store, make_trainer, run_dir, render_episode, refresh_s, baseline=baseline
    )


def fork_parent(checkpoint: Path) -> Baseline | None:
    """A fork's parent, its baseline by default; a parent that does not read back is said in one line
    and left out (the fork itself is fine)."""
    from cockpit.engine.checkpoints import run_dir_of

    parent = run_dir_of(checkpoint)
    try:
        return load_baseline(parent, f"{parent.name} (parent)")
    except ConfigError as e:
        print(f"cockpit: the parent run is not drawn as a baseline: {e}", flush=True)
        return None


def history_store(run_dir: Path) -> RemoteStore:
    """A RemoteStore holding the run's logs. A live run's half-written last line is left for the next
    read; a damaged log is refused, naming its file and line."""
    store = RemoteStore()
    load_history(run_dir, store)
    return store


def create_attach_app(run_dir: Path, refresh_s: float = REFRESH_S, baseline: Path | None = None) -> CockpitApp:
    """The cockpit attached to the run in `run_dir` (its history read-only when nothing listens), with
    `baseline` (by default a fork's parent) on its return chart."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no config.toml)")
    drawn = load_baseline(baseline) if baseline is not None else attach_parent(run_dir)
    title = title_of(run_dir_config(run_dir))
    found = probe(run_dir)
    store = history_store(run_dir)
    reason = found.reason
    if found.listening and found.socket is not None:
        try:
            connection = Connection(found.socket)
        except ConnectionLost as e:
            reason = f"cannot connect to the run ({e})"
        else:
            connection.on_close = store.lost
            last_time = store.events[-1].time if store.events else None
            try:
                connection.subscribe(store.apply, store.status.step, last_time).result(CONNECT_TIMEOUT_S)
            except (ConnectionLost, ProtocolError, TimeoutError) as e:
                connection.close()
                reason = f"cannot subscribe to the run ({e})"
            else:
                pid = (connection.hello or {}).get("pid")
                return CockpitApp(
                    f"{title} · attached",
                    RemoteControl(connection, store),
                    store,
                    run_dir=run_dir,
                    render_episode=lambda policy, number: policy["frames"],
                    attached=True,
                    notice=f"attached to the run (pid {pid}): q detaches, the run goes on; S stops it",
                    refresh_s=refresh_s,
                    baseline=drawn,
                )
    if found.state == RunState.DEAD:
        store.update_status(state=RunState.DEAD)
    elif found.state == RunState.RUNNING and not found.listening:
        store.connection_state = "not listening"
    return CockpitApp(
        f"{title} · read-only",
        None,
        store,
        run_dir=run_dir,
        attached=True,
        notice=f"read-only: {reason}",
        refresh_s=refresh_s,
        baseline=drawn,
    )


def attach_parent(run_dir: Path) -> Baseline | None:
    """The parent a fork's metadata names, as its baseline; None for no fork, or a parent gone or damaged."""
    parent = parent_run(run_dir)
    if parent is None:
        return None
    try:
        return load_baseline(parent, f"{parent.name} (parent)")
    except ConfigError:
        return None


def run_ui(
    config: Config,
    run_dir: Path,
    checkpoint: Path | None = None,
    fork: bool = False,
    changes=(),
    baseline: Baseline | None = None,
) -> int:
    """The cockpit until `q` or a signal. Exit code as headless: 0 finished or stopped from the UI,
    130 / 143 / 129 ended by SIGINT (or ctrl+c) / SIGTERM / SIGHUP, 1 failed."""
    app = create_app(config, run_dir, checkpoint, fork, changes, baseline=baseline)
    app.run()
    if app.refused is not None:  # e.g. a checkpoint whose tensors do not load: one line, exit 2
        raise app.refused
    state = app.store.status.state
    if app.summary:
        print(f"cockpit: run {app.summary['status']} · {run_dir}")
    if state == RunState.FAILED:
        return 1
    return 128 + app.signals[0] if app.signals else 0
