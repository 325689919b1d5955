"""The DQN training loop, with its two seams: commands in (`Control`) and figures out (`Recorder`, events).

The loop draws random numbers only from generators it owns (`self.rng` for exploration, `self.sampler` for replay
sampling, per-episode reset seeds derived from the run seed), so evaluations, pauses and anything
another thread does leave its trajectory unchanged. Commands are applied at step boundaries
(`run_commands`); what a checkpoint must carry lives in `self.progress`.

Vector observations go to `ReplayBuffer` (packed float rows); image observations to `FrameReplayBuffer`
(each uint8 frame stored once), whose batches the agent's `frame_update` learns from. Either way the
trainer's `buffer` and `sampler` are what a checkpoint saves.

This module does not import torch: the network is built when first needed (after the warm-up's random
steps, in a new run), while a background thread loads torch, so a run's first episodes reach the
front ends sooner, with the same numbers.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cockpit.engine import seeding, torch_side
from cockpit.engine.alerts import HealthMonitor
from cockpit.engine.atari import learning_terminal
from cockpit.engine.buffer import ReplayBuffer, ReplaySampler
from cockpit.engine.config import LIVE_KEYS, Config, DQNConfig
from cockpit.engine.contract import Evaluation, Event, RunState, RunStatus
from cockpit.engine.control import Command, CommandKind, Control
from cockpit.engine.envs import inspect_env, make_env, q_bound, q_range, reward_range
from cockpit.engine.evaluation import EvalResult, evaluate, freeze_normalizer
from cockpit.engine.files import WriteFailed
from cockpit.engine.frame_buffer import FrameReplayBuffer, FrameSampler
from cockpit.engine.health_checks import HealthChecks
from cockpit.engine.lazy_agent import LazyAgent
from cockpit.engine.metrics import PUBLISH_EVERY, MetricsStore
from cockpit.engine.progress import ENTROPY_WINDOW, RunProgress, TrainingClock
from cockpit.engine.recorder import Recorder
from cockpit.engine.run_commands import RunCommands
from cockpit.engine.run_end import finish, summarize
from cockpit.engine.run_figures import end_episode, evaluate_and_record, publish_chunk, status_of
from cockpit.engine.runlog import RunLog, create_run_dir
from cockpit.engine.schedules import LinearSchedule

if TYPE_CHECKING:
    from cockpit.engine.agent import DQNAgent

STOP_TIMEOUT_S = 30.0
"""A stop waits for the episode to end at most this long, then checkpoints mid-episode (inexact)."""


def _no_target_sync() -> None:
    """The warm-up's target sync: none is needed, the target equals the online network until the first update."""


class Trainer:
    def __init__(
        self,
        config: Config,
        run_dir: Path | None = None,
        *,
        control: Control | None = None,
        store: MetricsStore | None = None,
        changes: Sequence[dict] = (),
        on_non_finite: str = "stop",
    ):
        """`on_non_finite` is the front end's choice when the preset says `default`: `stop` (headless)
        or `pause` (a person is watching); while a viewer is subscribed (`Control.watched`), `pause`."""
        self.config = config
        self.dqn = config.dqn  # current values, replaced by live changes (`set_live_values`)
        self.total_steps = config.run.total_steps
        self.control = control or Control()
        self.control.publish_config(config)
        self.store = store or MetricsStore()
        self.recorder = Recorder(self.store)
        self.scheduled_changes = sorted(changes, key=lambda c: c["step"])
        self.run_dir = Path(run_dir) if run_dir else None

        seed = config.run.seed
        seeding.seed_globals(seed)
        self.info = inspect_env(config.env)
        self.env = make_env(config.env)
        self.env.action_space.seed(seeding.derive(seed, seeding.ACTIONS))
        self.eval_env = make_env(config.env)
        self.eval_seeds = seeding.eval_seeds(seed, config.run.eval_episodes)
        self.eval_action_seeds = seeding.eval_action_seeds(seed, config.run.eval_episodes)
        self.rng = np.random.Generator(np.random.PCG64(seeding.derive(seed, seeding.ACTIONS)))
        info = self.info
        self.networks = LazyAgent(config, info.obs_shape if info.image else info.obs_dim, info.n_actions)
        self.buffer: ReplayBuffer | FrameReplayBuffer
        self.sampler: ReplaySampler | FrameSampler
        if info.image:
            self.buffer = FrameReplayBuffer(self.dqn.buffer_size, info.frame_shape, info.frame_stack, merged=True)
            self.sampler = FrameSampler(self.buffer, seeding.derive(seed, seeding.REPLAY))
        else:
            self.buffer = ReplayBuffer(self.dqn.buffer_size, info.obs_dim)
            self.sampler = ReplaySampler(self.buffer, seeding.derive(seed, seeding.REPLAY))
        self.epsilon = LinearSchedule(self.dqn.epsilon_start, self.dqn.epsilon_end, self.dqn.epsilon_decay)
        self.reward_range = reward_range(config.env, seeding.derive(seed, seeding.REWARD_PROBE))
        self.reward_abs_max = max(abs(r) for r in self.reward_range)

        self.progress = RunProgress(self.info.n_actions)  # all of it part of a full checkpoint
        self.state = RunState.CREATED
        self.commands = RunCommands(self)
        self.last_checkpoint: Path | None = None
        self.resumed_from: dict | None = None  # set by `resume_from`; the run log then continues in place
        self.parent: dict | None = None  # set by `resume_from(fork=True)`
        self.error: str | None = None
        self.log: RunLog | None = None
        self.started_at: float | None = None
        self.health = HealthMonitor(config.alerts, budget_steps=config.run.eval_freq)
        self.health_checks = HealthChecks(self.health)
        policy = config.alerts.on_non_finite
        self._non_finite = (policy, on_non_finite)
        self.diverged: str | None = None  # set once NaN/Inf appears: no checkpoint is taken after it
        self._log_unwritable = False  # a write to the run directory failed: events reach the store only
        self.step_hook: Callable[[Trainer, int, tuple], tuple] | None = None
        """For tests and injected faults: called with (trainer, action, the env's 5-tuple) after every
        env step, at `trainer.step` before the step counts; returns the 5-tuple the loop goes on with."""

    @property
    def step(self) -> int:
        return self.progress.step

    @property
    def episode(self) -> int:
        return self.progress.episode

    @property
    def updates(self) -> int:
        return self.progress.updates

    @property
    def on_non_finite(self) -> str:
        """What NaN/Inf does: the preset's choice, else pause while someone watches, else the front end's."""
        policy, front_end = self._non_finite
        if policy != "default":
            return policy
        return "pause" if self.control.watched else front_end

    @property
    def agent(self) -> DQNAgent:
        """The networks and optimizer (see `LazyAgent`): while they are built, the run says it is loading."""
        agent = self.networks.built
        if agent is None:
            previous = self.state
            if previous != RunState.CREATED:
                self.loading()
            agent, built_now = self.networks.build(self.dqn)
            if built_now and agent.compute_path != self.config.run.compute_path:
                self._note_compute_path(agent)
            if previous != RunState.CREATED:
                self.set_state(previous)
        return agent

    def _note_compute_path(self, agent: DQNAgent) -> None:
        """The metadata, written before the agent existed, names the path the agent took instead; where
        the fast update failed its check, the run says why, once, as a warning."""
        if agent.fallback:
            self.event("warning", message=agent.fallback)
        if self.log is not None:
            self.log.amend_metadata(compute_path=agent.compute_path, compute_fallback=agent.fallback)

    @property
    def agent_if_built(self) -> DQNAgent | None:
        """The agent, or None where it is not built yet (nothing then waits for torch)."""
        return self.networks.built

    def _training_agent(self) -> DQNAgent:
        """The agent, for the loop's own thread (which flushes denormals from then on)."""
        agent = self.agent
        self.networks.enter_loop_thread()
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

    def set_live_values(self, dqn: DQNConfig) -> None:
        """The dqn values in force from now (a live change, a resume): the optimizer's learning rate and
        what `Control` checks the next change against follow."""
        self.dqn = dqn
        if self.networks.built is not None or dqn.learning_rate != self.config.dqn.learning_rate:
            self.agent.set_learning_rate(dqn.learning_rate)
        self.control.publish_config(self.current_config)

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
        self.started_at = time.monotonic()
        try:
            self._start()
            status = self._train()
        except WriteFailed as e:  # a full disk: one line; the log cannot take more than the store shows
            self.error = str(e)
            self._log_unwritable = True
            self.event("error", message=self.error)
            status = "failed"
        except Exception as e:  # surfaced to the front end as state "failed", and logged where the disk allows
            self.error = f"{type(e).__name__}: {e}"
            self.event("error", best_effort=True, message=self.error, traceback=traceback.format_exc())
            status = "failed"
        summary = summarize(self, status, time.perf_counter() - started)
        finish(self, summary)
        return summary

    def _start(self) -> None:
        self.open_log()
        if self.networks.built is None:  # after the log's files: they would wait on the GIL at each write
            threading.Thread(
                target=torch_side.preload, args=(self.log is not None,), name="cockpit-preload-torch", daemon=True
            ).start()
        self.set_state(RunState.RUNNING)
        if self.resumed_from:
            self.event("resumed", **self.resumed_from)
        else:
            self.event("start", total_steps=self.total_steps, hyperparameters=self.hyperparameters())

    def _train(self) -> str:
        """The loop; returns how it ended (finished, stopped or failed)."""
        progress, commands = self.progress, self.commands
        clock = TrainingClock()  # steps/s counts training only: commands, evaluations, loading are left out
        obs, done = self._reset_episode(), True
        while progress.step < self.total_steps:
            if self.control.waiting or commands.paused:
                with clock.stopped():
                    commands.apply_waiting()
            if commands.stop_due(STOP_TIMEOUT_S):
                self.checkpoint("stop", exact=False)
                break
            self._apply_scheduled_changes()
            if self.networks.built is None and progress.step >= self.dqn.warmup_steps:
                with clock.stopped():  # the network waits for torch's import: loading, as peers count it
                    self._training_agent()
            obs, done = self._steps(obs, self._next_boundary())
            if progress.step % PUBLISH_EVERY == 0:
                self._end_chunk(PUBLISH_EVERY, clock.lap())  # the publish itself counts in the next chunk
            if progress.step % self.config.run.eval_freq == 0:
                with clock.stopped():
                    self.evaluate(scheduled=True)
            if done:  # an episode boundary: the only place a full checkpoint is exact
                if commands.stop_requested:
                    self.checkpoint("stop")
                    break
                commands.take_requested_checkpoints()
                obs = self._reset_episode()
        if progress.step % PUBLISH_EVERY:
            self._end_chunk(progress.step % PUBLISH_EVERY, clock.lap())
        stopped = commands.stop_requested
        saved = self.last_checkpoint is not None and self.last_checkpoint.name.startswith(f"step-{progress.step:09d}")
        if not stopped and self.run_dir is not None and not saved:
            self.checkpoint("stop", exact=done, at_end=True)  # resumable with a larger --total-steps
        return "failed" if self.diverged and self.error else "stopped" if stopped else "finished"

    def _apply_scheduled_changes(self) -> None:
        """Live changes the trainer applies itself at their step (a replay's, a fork's overrides)."""
        while self.scheduled_changes and self.scheduled_changes[0]["step"] <= self.progress.step:
            change = self.scheduled_changes.pop(0)
            source = change.get("source", "replay")
            self.commands.apply_change(Command(CommandKind.SET, change["key"], change["value"], source))

    def _end_chunk(self, steps: int, elapsed: float) -> None:
        """Count a chunk's training time and publish."""
        self.progress.train_time_s += elapsed
        publish_chunk(self, steps / max(elapsed, 1e-9), steps)

    def _reset_episode(self) -> np.ndarray:
        obs, _ = self.env.reset(seed=seeding.derive(self.config.run.seed, seeding.TRAIN_RESET, self.progress.episode))
        return obs

    def _next_boundary(self) -> int:
        """The step after which the loop must look up: the next publish, scheduled evaluation,
        scheduled change or the end (every step while a stop waits for the episode to end)."""
        step = self.progress.step
        if self.commands.stop_requested:
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
        dqn, progress = self.dqn, self.progress
        act: Any
        update: Any
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
        control, step = self.control, progress.step
        if step < warmup:
            # Random steps without updates need no network: torch may still be loading. Skipping the
            # target syncs is exact, as the target equals the online network until the first update.
            # Nor do they flush denormals, whether or not a command has built the network meanwhile:
            # the mode changes at the same step in every run of the seed, resumed or not.
            limit = min(limit, warmup)
            act = update = None
            sync_target: Callable[[], None] = _no_target_sync
        else:
            agent = self._training_agent()
            act, update, sync_target = agent.act, agent.update, agent.sync_target
        env_step: Any = self.env.step
        add: Any = self.buffer.add
        frames = isinstance(self.sampler, FrameSampler)
        sample: Any = self.sampler.sample if isinstance(self.sampler, FrameSampler) else self.sampler.rows
        if self.step_hook is not None:
            env_step = self._hooked(env_step)
        counts, recent, pending = progress.action_counts, progress.recent_actions, progress.pending_updates
        while True:
            if step < warmup or uniform() < (epsilon_end if step >= decayed_from else epsilon(step)):
                action = int(integers(n_actions))
            else:
                action = act(obs)
            next_obs, reward, terminated, truncated, info = env_step(action)
            if frames:  # a lost life may end the TD target (learning only); the game's end ends the stacks
                ended = terminated or truncated
                add(obs, next_obs, action, reward, learning_terminal(terminated, info), truncated, ended)
            else:
                add(obs, next_obs, action, reward, terminated)
            progress.step = step = step + 1

            slot = step % ENTROPY_WINDOW
            if step > ENTROPY_WINDOW:
                counts[recent[slot]] -= 1
            counts[action] += 1
            recent[slot] = action

            if step > warmup and step % train_freq == 0:
                for _ in range(gradient_steps):
                    pending.append(update(sample(batch_size), obs_dim, dqn))
                    progress.updates += 1
            if step % target_update == 0:
                sync_target()

            if terminated or truncated:
                end_episode(self, float(info["episode"]["r"]), int(info["episode"]["l"]), bool(terminated))
                return next_obs, True
            obs = next_obs
            if step >= limit or control.waiting:
                return obs, False

    def _hooked(self, env_step: Callable) -> Callable:
        hook = self.step_hook
        assert hook is not None

        def hooked(action: int) -> tuple:
            return hook(self, action, env_step(action))

        return hooked

    def status(self, steps_per_s: float | None = None, epsilon: float | None = None) -> RunStatus:
        """Where the run stands now, as front ends see it (`steps_per_s`: the chunk's, when training)."""
        return status_of(self, steps_per_s, epsilon)

    def loading(self) -> None:
        """Torch's import (and a checkpoint's tensors) take a while before the network exists:
        a front end says why the run waits, with no steps/s meanwhile."""
        self.set_state(RunState.LOADING)

    def set_state(self, state: RunState) -> None:
        self.state = state
        self.store.publish(self.status())

    def event(self, kind: str, best_effort: bool = False, **fields: Any) -> Event:
        """Into the store and the run log. `best_effort` (a run ending anyway): a log the disk no longer
        takes is left as it is, and the run's error says so; otherwise that ends the run."""
        event = Event(kind, self.progress.step, time.time(), fields)
        self.store.add_event(event)
        if self.log and not self._log_unwritable:
            try:
                self.log.event(event.to_dict())
            except WriteFailed as e:
                self._log_unwritable = True
                if not best_effort:
                    raise
                self.error = self.error or str(e)
        return event

    # ----------------------------------------------------------- evaluation
    def evaluate(self, scheduled: bool) -> Evaluation:
        """An evaluation now, recorded (`scheduled`: one of every `run.eval_freq` steps, which may
        checkpoint the best policy), with the state "evaluating" meanwhile."""
        return evaluate_and_record(self, scheduled)

    def evaluate_now(self) -> EvalResult:
        """Episodes on the eval env with its fixed seeds, greedy or at `run.eval_epsilon` (from the
        evaluation's own generators); touches no training RNG."""
        freeze_normalizer(self.eval_env, self.env)
        epsilon = self.config.run.eval_epsilon
        return evaluate(
            self.agent.act, self.eval_env, self.eval_seeds, epsilon=epsilon, action_seeds=self.eval_action_seeds
        )

    # ---------------------------------------------------------- checkpoints
    def open_log(self) -> None:
        if self.run_dir is None or self.log is not None:
            return
        if self.resumed_from:
            self.log = RunLog(self.run_dir, self.config, {}, resume_at=self.resumed_from)
        else:
            if not self.run_dir.exists():
                create_run_dir(self.run_dir)
            self.log = RunLog(self.run_dir, self.config, self.metadata())
        self.recorder.log = self.log

    def checkpoint(
        self, kind: str, future: Future | None = None, exact: bool = True, at_end: bool = False
    ) -> Path | None:
        """Write a checkpoint of `kind` now (None when the run has no directory, or its state is not
        finite). `at_end`: the run reached its total steps (mid-episode is the normal case there)."""
        from cockpit.engine.run_checkpoints import write_checkpoint

        return write_checkpoint(self, kind, future, exact, at_end)

    def resume_from(self, checkpoint: Path, fork: bool = False) -> dict:
        """Load a full checkpoint before `run`. Resume continues the run log in place; a fork starts a
        new run directory whose metadata names its parent (and draws fresh streams if its seed differs)."""
        from cockpit.engine.run_checkpoints import resume

        return resume(self, checkpoint, fork)

    def close(self) -> None:
        """The envs, and the denormal mode of the thread that ran the loop where it did not flush before."""
        self.env.close()
        self.eval_env.close()
        self.networks.leave_loop_thread()
