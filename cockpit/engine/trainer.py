"""The DQN training loop, with its two seams: commands in (`Control`) and figures out (`MetricsStore`, `RunLog`).

The loop draws random numbers only from generators it owns (`self.rng` for exploration, `self.sampler` for replay
sampling, per-episode reset seeds derived from the run seed), so evaluations, pauses and anything
another thread does leave its trajectory unchanged. Commands are applied at step boundaries.

This module does not import torch: the network is built when first needed (after the warm-up's random
steps, in a new run), while a background thread loads torch, so a run's first episodes reach the
front ends a second or two sooner, with the same numbers.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cockpit.engine import seeding, torch_side
from cockpit.engine.alerts import LABELS, HealthMonitor
from cockpit.engine.buffer import ReplayBuffer, ReplaySampler
from cockpit.engine.config import LIVE_KEYS, Config, validate_live_change
from cockpit.engine.control import Command, Control, reply
from cockpit.engine.envs import inspect_env, make_env, q_bound, q_range, reward_range
from cockpit.engine.evaluation import EvalResult, evaluate, freeze_normalizer
from cockpit.engine.files import WriteFailed
from cockpit.engine.metrics import PUBLISH_EVERY, UPDATE_METRICS, MetricsStore
from cockpit.engine.runlog import RunLog, create_run_dir, peak_rss_mb
from cockpit.engine.schedules import LinearSchedule
from cockpit.engine.trainer_commands import CommandsMixin
from cockpit.engine.trainer_health import HealthMixin

if TYPE_CHECKING:
    from cockpit.engine.agent import DQNAgent

ENTROPY_WINDOW = 1000
"""Recent steps over which the action distribution's entropy is measured."""
STOP_TIMEOUT_S = 30.0
"""A stop waits for the episode to end at most this long, then checkpoints mid-episode (inexact)."""


def column_stats(chunk: np.ndarray) -> zip:
    """(mean, min, max) of each column of an interval's update metrics, one pass per statistic."""
    return zip(chunk.mean(axis=0).tolist(), chunk.min(axis=0).tolist(), chunk.max(axis=0).tolist(), strict=False)


class Trainer(CommandsMixin, HealthMixin):
    def __init__(
        self,
        config: Config,
        run_dir: Path | None = None,
        *,
        control: Control | None = None,
        store: MetricsStore | None = None,
        changes: list[dict] = (),
        on_non_finite: str = "stop",
    ):
        """`on_non_finite` is the front end's choice when the preset says `default`: `stop` (headless)
        or `pause` (a person is watching)."""
        self.config = config
        self.dqn = config.dqn  # current values, replaced by live changes
        self.total_steps = config.run.total_steps
        self.control = control or Control()
        self.control.validate_change = lambda key, value: validate_live_change(self.current_config, key, value)
        self.store = store or MetricsStore()
        self.scheduled_changes = sorted(changes, key=lambda c: c["step"])
        self.run_dir = Path(run_dir) if run_dir else None

        seed = config.run.seed
        seeding.seed_globals(seed)
        self.info = inspect_env(config.env)
        self.env = make_env(config.env)
        self.env.action_space.seed(seeding.derive(seed, seeding.ACTIONS))
        self.eval_env = make_env(config.env)
        self.eval_seeds = seeding.eval_seeds(seed, config.run.eval_episodes)
        self.rng = np.random.Generator(np.random.PCG64(seeding.derive(seed, seeding.ACTIONS)))
        self._agent: DQNAgent | None = None
        self._agent_lock = threading.Lock()
        self._flushing: tuple[int, bool] | None = None  # (the loop's thread, whether it flushed before)
        self.buffer = ReplayBuffer(self.dqn.buffer_size, self.info.obs_dim)
        self.sampler = ReplaySampler(self.buffer, seeding.derive(seed, seeding.REPLAY))
        self.epsilon = LinearSchedule(self.dqn.epsilon_start, self.dqn.epsilon_end, self.dqn.epsilon_decay)

        self.reward_range = reward_range(config.env, seeding.derive(seed, seeding.REWARD_PROBE))
        self.reward_abs_max = max(abs(r) for r in self.reward_range)

        # Counters and progress (all part of a checkpoint).
        self.step = 0
        self.episode = 0
        self.updates = 0
        self.episode_returns: deque[float] = deque(maxlen=100)
        self.best_eval = -math.inf
        self.last_eval: dict | None = None
        self.first_step_reaching_target: int | None = None
        self.applied_changes: list[dict] = []
        self._change_effects: list[dict] = []

        self.state = "created"
        self.paused = False
        self._stop_requested_at: float | None = None
        self._stop_now = False
        self._checkpoint_requests: list[tuple[str, Future | None]] = []
        self.last_checkpoint: Path | None = None
        self.resumed_from: dict | None = None  # set by `resume_from`; the run log then continues in place
        self.parent: dict | None = None  # set by `resume_from(fork=True)`
        self.error: str | None = None
        # Python lists: the loop touches one or two items per step, where NumPy's scalar indexing costs more.
        self._recent_actions = [0] * ENTROPY_WINDOW
        self._action_counts = [0] * self.info.n_actions
        self._pending_updates: list[list[float]] = []
        self._log_updates: list[np.ndarray] = []
        self._train_time = 0.0
        self._eval_time = 0.0
        self.log: RunLog | None = None
        self._started_at: float | None = None
        self.health = HealthMonitor(config.alerts, budget_steps=config.run.eval_freq)
        self._new_evaluation: tuple[int, float] | None = None  # a scheduled one, for the health check
        self._weights_fingerprint: float | None = None
        policy = config.alerts.on_non_finite
        self.on_non_finite = on_non_finite if policy == "default" else policy
        self.diverged: str | None = None  # set once NaN/Inf appears: no checkpoint is taken after it
        self._log_unwritable = False  # a write to the run directory failed: events reach the store only
        self.step_hook: Callable[[Trainer, int, tuple], tuple] | None = None
        """For tests and injected faults: called with (trainer, action, the env's 5-tuple) after every
        env step, at `trainer.step` before the step counts; returns the 5-tuple the loop goes on with."""

    @property
    def agent(self) -> DQNAgent:
        """The networks and optimizer, built on first use (waiting for torch's import if it is still on
        its way). The agent draws its initial weights from its own generator, so when it is built does
        not change them; a run's warm-up steps are random and never touch it."""
        if self._agent is None:
            with self._agent_lock:
                if self._agent is None:
                    previous = self.state
                    if previous != "created":
                        self._loading()
                    torch_side.load()
                    import torch

                    from cockpit.engine.agent import DQNAgent

                    torch.set_num_threads(self.config.run.threads)
                    seeding.seed_torch(self.config.run.seed)
                    self._agent = DQNAgent(
                        self.info.obs_dim,
                        self.info.n_actions,
                        self.dqn,
                        self.config.run.device,
                        self.config.run.seed,
                        compute=self.config.run.compute,
                    )
                    if self._agent.compute_path != self.config.run.compute_path:
                        self._note_compute_path(self._agent)
                    if previous != "created":
                        self._set_state(previous)
        return self._agent

    def _note_compute_path(self, agent: DQNAgent) -> None:
        """The metadata, written before the agent existed, names the path the agent took instead; where
        the fast update failed its check, the run says why, once, as a warning."""
        if agent.fallback:
            self._event("warning", message=agent.fallback)
        if self.log is not None:
            self.log.amend_metadata(compute_path=agent.compute_path, compute_fallback=agent.fallback)

    def _training_agent(self) -> DQNAgent:
        """The agent, for the loop's own thread, which from the end of the warm-up flushes denormals
        to zero (see `flush_denormals`): a per-thread setting, so it is made where the loop runs,
        whichever thread built the agent (a resume builds it before `run`), and put back when the
        run ends."""
        agent = self.agent
        if self._flushing is None or self._flushing[0] != threading.get_ident():
            from cockpit.engine.agent import flush_denormals

            self._flushing = (threading.get_ident(), flush_denormals())
        return agent

    # ----------------------------------------------------------------- views
    @property
    def current_config(self) -> Config:
        return self.config.replace("dqn", **{k: getattr(self.dqn, k) for k in LIVE_KEYS})

    @property
    def q_bound(self) -> float:
        return q_bound(self.reward_abs_max, self.dqn.gamma, self.info.time_limit)

    @property
    def q_range(self) -> tuple[float, float]:
        return q_range(self.reward_range, self.dqn.gamma)

    def hyperparameters(self) -> dict[str, Any]:
        return {k: getattr(self.dqn, k) for k in LIVE_KEYS}

    def metadata(self) -> dict:
        return {
            "preset": self.config.name,
            "seed": self.config.run.seed,
            "threads": self.config.run.threads,
            "device": self.config.run.device,
            "compute_path": self.config.run.compute_path,
            "denormals": "flushed to zero in the loop's thread (where the CPU supports it)",
            "obs_dim": self.info.obs_dim,
            "n_actions": self.info.n_actions,
            "time_limit": self.info.time_limit,
            "target_return": self.info.target_return,
            "reward_abs_max": self.reward_abs_max,
            "reward_range": list(self.reward_range),
            "parent": self.parent,
        }

    # ------------------------------------------------------------- the loop
    def run(self) -> dict:
        """Train until total_steps or a stop; returns the summary (also written to summary.json)."""
        started = time.perf_counter()
        self._started_at = time.monotonic()
        status = "failed"
        try:
            self._open_log()
            if self._agent is None:  # after the log's files: they would wait on the GIL at each write
                threading.Thread(
                    target=torch_side.preload, args=(self.log is not None,), name="cockpit-preload-torch", daemon=True
                ).start()
            self._set_state("running")
            if self.resumed_from:
                self._event("resumed", **self.resumed_from)
            else:
                self._event("start", total_steps=self.total_steps, hyperparameters=self.hyperparameters())
            obs = self._reset_episode()
            # Training time per chunk of PUBLISH_EVERY steps; commands, pauses and evaluations bank the
            # time so far and restart the clock, so steps/s counts training only.
            chunk_start, banked = time.perf_counter(), 0.0
            done = True
            while self.step < self.total_steps:
                if self.control.waiting or self.paused:
                    banked += time.perf_counter() - chunk_start
                    self._apply_commands()
                    chunk_start = time.perf_counter()
                if self._stop_requested_at is not None and (
                    self._stop_now or time.monotonic() - self._stop_requested_at > STOP_TIMEOUT_S
                ):
                    self._checkpoint("stop", exact=False)
                    break
                while self.scheduled_changes and self.scheduled_changes[0]["step"] <= self.step:
                    change = self.scheduled_changes.pop(0)
                    self._apply_change(Command("set", change["key"], change["value"], change.get("source", "replay")))
                if self._agent is None and self.step >= self.dqn.warmup_steps:
                    # The network waits for torch's import (1-2 s in a new run): loading, not training,
                    # as neither peer counts its imports and set-up in its steps/s either.
                    banked += time.perf_counter() - chunk_start
                    self._training_agent()
                    chunk_start = time.perf_counter()
                obs, done = self._steps(obs, self._next_boundary())
                if self.step % PUBLISH_EVERY == 0:
                    now = time.perf_counter()  # the publish itself counts, in the next chunk
                    self._end_chunk(PUBLISH_EVERY, banked + now - chunk_start)
                    chunk_start, banked = now, 0.0
                if self.step % self.config.run.eval_freq == 0:
                    banked += time.perf_counter() - chunk_start
                    self._evaluate(scheduled=True)
                    chunk_start = time.perf_counter()
                if done:
                    # An episode boundary: the only place a full checkpoint is exact.
                    if self._stop_requested_at is not None:
                        self._checkpoint("stop")
                        break
                    while self._checkpoint_requests:
                        self._checkpoint(*self._checkpoint_requests.pop(0))
                    obs = self._reset_episode()
            if self.step % PUBLISH_EVERY:
                self._end_chunk(self.step % PUBLISH_EVERY, banked + time.perf_counter() - chunk_start)
            stopped = self._stop_requested_at is not None
            already_saved = self.last_checkpoint is not None and self.last_checkpoint.name.startswith(
                f"step-{self.step:09d}"
            )
            if not stopped and self.run_dir is not None and not already_saved:
                self._checkpoint("stop", exact=done, at_end=True)  # resumable with a larger --total-steps
            status = "failed" if self.diverged and self.error else "stopped" if stopped else "finished"
        except WriteFailed as e:  # a full disk: one line; the log cannot take more than the store shows
            self.error = str(e)
            self._log_unwritable = True
            self._event("error", message=self.error)
            status = "failed"
        except Exception as e:  # surfaced to the front end as state "failed", and logged where the disk allows
            self.error = f"{type(e).__name__}: {e}"
            self._event("error", best_effort=True, message=self.error, traceback=traceback.format_exc())
            status = "failed"
        summary = self._summary(status, time.perf_counter() - started)
        self._finish(summary)
        return summary

    def _end_chunk(self, steps: int, elapsed: float) -> None:
        """Count a chunk's training time and publish."""
        self._train_time += elapsed
        self._publish(steps / max(elapsed, 1e-9), steps)

    def _reset_episode(self) -> np.ndarray:
        obs, _ = self.env.reset(seed=seeding.derive(self.config.run.seed, seeding.TRAIN_RESET, self.episode))
        return obs

    def _next_boundary(self) -> int:
        """The step after which the loop must look up: the next publish, scheduled evaluation,
        scheduled change or the end (every step while a stop waits for the episode to end)."""
        step = self.step
        if self._stop_requested_at is not None:
            return step + 1
        eval_freq = self.config.run.eval_freq
        limit = min(self.total_steps, step - step % PUBLISH_EVERY + PUBLISH_EVERY, step - step % eval_freq + eval_freq)
        if self.scheduled_changes:
            limit = min(limit, self.scheduled_changes[0]["step"])
        return limit

    def _steps(self, obs: np.ndarray, limit: int) -> tuple[np.ndarray, bool]:
        """Env steps with their replay writes, updates and target syncs, up to step `limit`, the end of
        an episode (then True) or a waiting command. The hottest code of the loop: what it reads every
        step is bound to locals once per call, which is safe because nothing bound can change inside
        it (live changes and other commands are applied between calls)."""
        dqn = self.dqn
        warmup, train_freq, gradient_steps, target_update = (
            dqn.warmup_steps,
            dqn.train_freq,
            dqn.gradient_steps,
            dqn.target_update,
        )
        batch_size, obs_dim, n_actions = dqn.batch_size, self.info.obs_dim, self.info.n_actions
        uniform, integers = self.rng.random, self.rng.integers
        segment = self.epsilon.segments[-1]  # a live change to epsilon starts a new one, between calls
        epsilon, decayed_from = segment.value, segment.start_step + segment.duration
        epsilon_end = segment.value(decayed_from)  # what value(step) gives for every later step
        control, step = self.control, self.step
        if step < warmup:
            # Random steps without updates need no network: torch may still be loading. Skipping the
            # target syncs is exact, as the target equals the online network until the first update.
            # Nor do they flush denormals, whether or not a command has built the network meanwhile:
            # the mode changes at the same step in every run of the seed, resumed or not.
            limit = min(limit, warmup)
            act = update = None
            sync_target = lambda: None  # noqa: E731
        else:
            agent = self._training_agent()
            act, update, sync_target = agent.act, agent.update, agent.sync_target
        env_step, add, sample = self.env.step, self.buffer.add, self.sampler.rows
        if self.step_hook is not None:
            hook, raw_step = self.step_hook, env_step
            env_step = lambda action: hook(self, action, raw_step(action))  # noqa: E731
        counts, recent, pending = self._action_counts, self._recent_actions, self._pending_updates
        while True:
            if step < warmup or uniform() < (epsilon_end if step >= decayed_from else epsilon(step)):
                action = int(integers(n_actions))
            else:
                action = act(obs)
            next_obs, reward, terminated, truncated, info = env_step(action)
            add(obs, next_obs, action, reward, terminated)
            self.step = step = step + 1

            slot = step % ENTROPY_WINDOW
            if step > ENTROPY_WINDOW:
                counts[recent[slot]] -= 1
            counts[action] += 1
            recent[slot] = action

            if step > warmup and step % train_freq == 0:
                for _ in range(gradient_steps):
                    pending.append(update(sample(batch_size), obs_dim, dqn))
                    self.updates += 1
            if step % target_update == 0:
                sync_target()

            if terminated or truncated:
                self._end_episode(float(info["episode"]["r"]), int(info["episode"]["l"]), bool(terminated))
                return next_obs, True
            obs = next_obs
            if step >= limit or control.waiting:
                return obs, False

    def _end_episode(self, ep_return: float, length: int, terminated: bool) -> None:
        self.episode += 1
        self.episode_returns.append(ep_return)
        record = {
            "kind": "episode",
            "step": self.step,
            "episode": self.episode,
            "return": ep_return,
            "length": length,
            "terminated": terminated,
        }
        self.store.publish({}, {"rollout/ep_return": (self.step, ep_return), "rollout/ep_length": (self.step, length)})
        if self.log:
            self.log.metric(record)
            self.log.scalars(self.step, {"rollout/ep_return": ep_return, "rollout/ep_length": length})
        self._track_change_effects(ep_return)

    # -------------------------------------------------------------- metrics
    def _action_entropy(self) -> float:
        counts = np.asarray(self._action_counts, dtype=np.float64)
        p = counts[counts > 0] / max(1.0, counts.sum())
        return float(-(p * np.log(p)).sum())

    def _publish(self, steps_per_s: float, steps: int = PUBLISH_EVERY) -> None:
        points: dict[str, tuple] = {}
        epsilon = self.epsilon.value(self.step)
        entropy = self._action_entropy()
        chunk = None
        if self._pending_updates:
            chunk = np.asarray(self._pending_updates)
            self._pending_updates.clear()
            self._log_updates.append(chunk)
            for name, (mean, low, high) in zip(UPDATE_METRICS, column_stats(chunk), strict=False):
                points[f"train/{name}"] = (self.step, mean, low, high, len(chunk))
        points["rollout/epsilon"] = (self.step, epsilon)
        points["rollout/action_entropy"] = (self.step, entropy)
        points["time/steps_per_s"] = (self.step, steps_per_s)
        self.store.publish(self._status(steps_per_s, epsilon), points)
        self._check_health(epsilon, entropy, chunk if "train/loss" in points else None, steps)
        if self.log and self.step % self.config.run.log_interval < PUBLISH_EVERY:
            self._log_aggregate(epsilon, entropy, steps_per_s)
        if self.log:
            self.log.maybe_flush()

    def _log_aggregate(self, epsilon: float, entropy: float, steps_per_s: float) -> None:
        record: dict[str, Any] = {
            "kind": "train",
            "step": self.step,
            "updates": self.updates,
            "epsilon": epsilon,
            "action_entropy": entropy,
            "steps_per_s": steps_per_s,
        }
        scalars = {"rollout/epsilon": epsilon, "rollout/action_entropy": entropy, "time/steps_per_s": steps_per_s}
        if self._log_updates:
            chunk = np.concatenate(self._log_updates)
            self._log_updates.clear()
            for name, (mean, low, high) in zip(UPDATE_METRICS, column_stats(chunk), strict=False):
                record[name] = {"mean": mean, "min": low, "max": high}
                scalars[f"train/{name}"] = mean
            record["q_bound"] = self.q_bound
            record["q_range"] = list(self.q_range)
        self.log.metric(record)
        self.log.scalars(self.step, scalars)

    def _status(self, steps_per_s: float | None = None, epsilon: float | None = None) -> dict:
        status = {
            "state": self.state,
            "step": self.step,
            "total_steps": self.total_steps,
            "episode": self.episode,
            "updates": self.updates,
            "hyperparameters": self.hyperparameters(),
            "q_bound": self.q_bound,
            "q_range": list(self.q_range),
            "muted_alerts": sorted(self.health.muted),
            "last_changed": self.applied_changes[-1]["key"] if self.applied_changes else None,
            "last_eval": self.last_eval,
            "best_eval": None if self.best_eval == -math.inf else self.best_eval,
            "first_step_reaching_target": self.first_step_reaching_target,
            "target_return": self.info.target_return,
            "train_time_s": self._train_time,
            "pending_change": self.control.pending_change.to_dict() if self.control.pending_change else None,
            "elapsed_s": time.monotonic() - self._started_at if self._started_at else 0.0,
        }
        if steps_per_s is not None:
            status["steps_per_s"] = steps_per_s
        status["epsilon"] = self.epsilon.value(self.step) if epsilon is None else epsilon
        return status

    def _loading(self, **status: Any) -> None:
        """Torch's import (and a checkpoint's tensors) take a second or two before the network exists:
        a front end says why the run waits, with no steps/s meanwhile."""
        self.state = "loading"
        self.store.publish({**self._status(), "steps_per_s": None, **status})

    def _set_state(self, state: str) -> None:
        self.state = state
        self.store.publish(self._status())

    def _event(self, kind: str, best_effort: bool = False, **fields: Any) -> dict:
        """Into the store and the run log. `best_effort` (a run ending anyway): a log the disk no longer
        takes is left as it is, and the run's error says so; otherwise that ends the run."""
        event = {"kind": kind, "step": self.step, "time": time.time(), **fields}
        self.store.add_event(event)
        if self.log and not self._log_unwritable:
            try:
                self.log.event(event)
            except WriteFailed as e:
                self._log_unwritable = True
                if not best_effort:
                    raise
                self.error = self.error or str(e)
        return event

    # ----------------------------------------------------------- evaluation
    def evaluate_now(self) -> EvalResult:
        """Greedy episodes on the eval env with its fixed seeds; touches no training RNG."""
        freeze_normalizer(self.eval_env, self.env)
        return evaluate(self.agent.act, self.eval_env, self.eval_seeds)

    def _evaluate(self, scheduled: bool) -> dict:
        previous = self.state
        self._set_state("evaluating")
        started = time.perf_counter()
        result = self.evaluate_now()
        self._eval_time += time.perf_counter() - started
        evaluation = {"step": self.step, "scheduled": scheduled, **result.to_dict()}
        if scheduled:
            self._new_evaluation = (self.step, result.mean)
            improved = result.mean > self.best_eval
            self.best_eval = max(self.best_eval, result.mean)
            target = self.info.target_return
            if self.first_step_reaching_target is None and not math.isnan(target) and result.mean >= target:
                self.first_step_reaching_target = self.step
        self.last_eval = evaluation
        self.store.add_evaluation(evaluation)
        self._event("eval", **evaluation)
        if scheduled and self.run_dir is not None:
            if improved:
                self._checkpoint("best")
            self._checkpoint_requests.append(("periodic", None))
        if self.log:
            self.log.metric({"kind": "eval", **evaluation})
            self.log.scalars(
                self.step, {"eval/mean_return" if scheduled else "eval/on_demand_mean_return": result.mean}
            )
        self._set_state(previous)
        return evaluation

    # ---------------------------------------------------------- checkpoints
    def _open_log(self) -> None:
        if self.run_dir is None or self.log is not None:
            return
        if self.resumed_from:
            self.log = RunLog(self.run_dir, self.config, {}, resume_at=self.resumed_from)
            return
        if not self.run_dir.exists():
            create_run_dir(self.run_dir)
        self.log = RunLog(self.run_dir, self.config, self.metadata())

    def _checkpoint(
        self, kind: str, future: Future | None = None, exact: bool = True, at_end: bool = False
    ) -> Path | None:
        """`at_end`: the run reached its total steps (mid-episode is the normal case there, not a warning)."""
        if self.run_dir is None:
            return None
        if not self.diverged and not self._state_is_finite():
            message = (
                f"non-finite weights or updates at step {self.step:,}, found before a checkpoint: training diverged"
            )
            self._event("alert", name="non_finite", message=message, fatal=True)
            self.health.active.add("non_finite")  # the monitor must not report it a second time
            self._diverge(message)
        if self.diverged:
            self._event(
                "checkpoint_skipped",
                checkpoint=kind,
                message=f"{kind} checkpoint not written: the state "
                f"is non-finite ({self.diverged.split(':')[0]}); {self._last_good()}",
            )
            if future is not None:
                future.set_result(reply(False, error="the state is non-finite; no checkpoint written"))
            return None
        self._open_log()
        self.log.flush()
        torch_side.load()
        from cockpit.engine import checkpoints, trainer_state

        tensors, meta = trainer_state.capture(self, kind, exact)
        pinned = {Path(c["checkpoint"]).name for c in self.applied_changes if c.get("checkpoint")}
        path = checkpoints.save(self.run_dir, tensors, meta, keep=self.config.run.checkpoint_keep, pinned=pinned)
        if kind != "best":
            self.last_checkpoint = path
        self._event("checkpoint", checkpoint=kind, path=str(path), exact=exact, **({"at_end": True} if at_end else {}))
        self.store.publish({"last_checkpoint": str(path)})
        if future is not None:
            future.set_result(reply(True, step=self.step, path=str(path), exact=exact))
        return path

    def resume_from(self, checkpoint: Path, fork: bool = False) -> dict:
        """Load a full checkpoint before `run`. Resume continues the run log in place; a fork starts a
        new run directory whose metadata names its parent (and draws fresh streams if its seed differs)."""
        from cockpit.engine import checkpoints

        meta = checkpoints.load_full_meta(checkpoint)
        self._loading(step=meta["step"])
        torch_side.load()
        from cockpit.engine import trainer_state

        tensors = checkpoints.load_full_tensors(checkpoint)
        same_seed = meta["config"]["run"]["seed"] == self.config.run.seed
        try:
            trainer_state.restore(self, tensors, meta, restore_rngs=same_seed)
        except (KeyError, IndexError, RuntimeError, ValueError, TypeError) as e:
            detail = " ".join(str(e).split())[:300]
            raise checkpoints.CheckpointError(
                f"{checkpoint}: does not fit this run ({type(e).__name__}: {detail})"
            ) from None
        origin = {"checkpoint": str(Path(checkpoint).resolve()), "from_step": meta["step"], "exact": meta["exact"]}
        if fork:
            self.parent = {**origin, "run_dir": str(checkpoints.run_dir_of(checkpoint))}
            # The parent's changes stay part of the state; the fork numbers its own from 1 and counts
            # its own alerts (the parent's mutes hold).
            self.applied_changes = [{**c, "inherited": True} for c in self.applied_changes]
            self.health.counts.clear()
            # The fork's own values for what cannot change live (loss, double DQN, ...) hold from its first step.
            fixed = {
                f.name: getattr(self.config.dqn, f.name)
                for f in dataclasses.fields(self.dqn)
                if f.name not in LIVE_KEYS
            }
            self.dqn = dataclasses.replace(self.dqn, **fixed)
            overrides = [  # a fork's overrides take effect at its first step, recorded as changes
                {"step": self.step, "key": key, "value": getattr(self.config.dqn, key), "source": "fork"}
                for key in LIVE_KEYS
                if getattr(self.config.dqn, key) != getattr(self.dqn, key)
            ]
            self.scheduled_changes = overrides + self.scheduled_changes
        else:
            self.resumed_from = {**origin, "log_lines": meta.get("log_lines")}
            self.last_checkpoint = Path(checkpoint)
        return meta

    # ------------------------------------------------------------------ end
    def _summary(self, status: str, wall: float) -> dict:
        train_time = max(self._train_time, 1e-9)
        return {
            "status": status,
            "steps": self.step,
            "episodes": self.episode,
            "wall_time_s": wall,
            "train_steps_per_s": self.step / train_time if self._train_time else None,
            "eval_time_s": self._eval_time,
            "final_eval_return": self.last_eval["mean"] if self.last_eval else None,
            "best_eval_return": None if self.best_eval == -math.inf else self.best_eval,
            "first_step_reaching_target": self.first_step_reaching_target,
            "target_return": self.info.target_return,
            "peak_rss_mb": peak_rss_mb(),
            "alerts": dict(sorted(self.health.counts.items())),
            "error": self.error,
        }

    def _finish(self, summary: dict) -> None:
        self.state = {"finished": "done"}.get(summary["status"], summary["status"])
        for kind, (count, first) in self.health.folded().items():  # what the budget held back, told once
            self._event(
                "alert",
                best_effort=True,
                name=kind,
                fatal=False,
                message=f"+{count} more {LABELS.get(kind, kind)} since step {first:,}, not shown one by one",
            )
        self._event(
            "end",
            best_effort=True,
            **{k: summary[k] for k in ("status", "steps", "final_eval_return", "best_eval_return")},
        )
        if self.error and not summary["error"]:  # the end event found the disk full
            summary.update(status="failed", error=self.error)
        self.store.publish({**self._status(), "summary": summary})
        unanswered = [f for _, f in self.control.drain()] + [f for _, f in self._checkpoint_requests if f]
        for future in unanswered:
            future.set_result(reply(False, error=f"the run has ended ({summary['status']})"))
        if self.log:
            try:
                self.log.close()
            except WriteFailed as e:
                summary["error"] = summary["error"] or str(e)
            except Exception as e:  # TensorBoard's writer, made at the first flush, can fail as late as this
                summary["error"] = summary["error"] or f"TensorBoard: {type(e).__name__}: {e}"
            try:
                self.log.write_summary(summary)
            except WriteFailed as e:  # the disk is still full: the summary reaches the front end only
                summary["error"] = f"{summary['error'] or 'the run ended'}; summary.json not written: {e}"
        self.env.close()
        self.eval_env.close()
        if self._flushing == (threading.get_ident(), False):  # this thread did not flush before the run
            from cockpit.engine.agent import flush_denormals

            flush_denormals(False)
