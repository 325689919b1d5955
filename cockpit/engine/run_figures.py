"""What the loop reports as it goes: its status, each episode's return, every PUBLISH_EVERY steps a
chunk's figures (to the store, and to the health checks), every `run.log_interval` steps a record of
the interval (to the run's files), and each evaluation. Figures go through the trainer's `Recorder`,
each recorded once per dump."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from cockpit.engine.contract import Evaluation, RunState, RunStatus
from cockpit.engine.metrics import PUBLISH_EVERY, UPDATE_METRICS
from cockpit.engine.recorder import JSONL, STORE, TENSORBOARD, Stats

if TYPE_CHECKING:
    from cockpit.engine.trainer import Trainer

FILES = (JSONL, TENSORBOARD)


def column_stats(chunk: np.ndarray) -> zip:
    """(mean, min, max) of each column of an interval's update metrics, one pass per statistic."""
    return zip(chunk.mean(axis=0).tolist(), chunk.min(axis=0).tolist(), chunk.max(axis=0).tolist(), strict=False)


def status_of(t: Trainer, steps_per_s: float | None = None, epsilon: float | None = None) -> RunStatus:
    p, pending = t.progress, t.control.pending_change
    return RunStatus(
        state=t.state,
        step=p.step,
        total_steps=t.total_steps,
        episode=p.episode,
        updates=p.updates,
        hyperparameters=t.hyperparameters(),
        q_bound=t.q_bound,
        q_range=t.q_range,
        muted_alerts=tuple(sorted(t.health.muted)),
        last_changed=p.applied_changes[-1]["key"] if p.applied_changes else None,
        last_eval=p.last_eval,
        best_eval=p.best_eval_or_none,
        first_step_reaching_target=p.first_step_reaching_target,
        target_return=t.info.target_return,
        train_time_s=p.train_time_s,
        pending_change=None if pending is None else pending.as_pending(),
        elapsed_s=time.monotonic() - t.started_at if t.started_at else 0.0,
        steps_per_s=steps_per_s,
        epsilon=t.epsilon.value(p.step) if epsilon is None else epsilon,
        last_checkpoint=None if t.last_checkpoint is None else str(t.last_checkpoint),
    )


def end_episode(t: Trainer, ep_return: float, length: int, terminated: bool) -> None:
    """Count a finished training episode, record it, and tell the effect of changes measured in full."""
    progress, record = t.progress, t.recorder.record
    progress.episode += 1
    progress.episode_returns.append(ep_return)
    record("rollout/episode", progress.episode, exclude=(STORE, TENSORBOARD))
    record("rollout/ep_return", ep_return)
    record("rollout/ep_length", length)
    record("rollout/terminated", terminated, exclude=(STORE, TENSORBOARD))
    t.recorder.dump(progress.step, "episode")
    for effect in progress.track_effects(ep_return):
        t.event(
            "hparam_effect",
            key=effect["key"],
            value=effect["value"],
            changed_at=effect["step"],
            return_before=effect["mean_before"],
            return_after=float(np.mean(effect["after"])),
        )


def publish_chunk(t: Trainer, steps_per_s: float, steps: int = PUBLISH_EVERY) -> None:
    """The chunk's figures to the store and the health checks; every `log_interval` steps a record of
    the interval to the run's files. `steps`: taken since the last publish."""
    progress, record = t.progress, t.recorder.record
    epsilon = t.epsilon.value(progress.step)
    entropy = progress.action_entropy()
    chunk = progress.take_pending_updates()
    if chunk is not None:
        for name, (mean, low, high) in zip(UPDATE_METRICS, column_stats(chunk), strict=False):
            record(f"train/{name}", Stats(mean, low, high, len(chunk)))
    record("rollout/epsilon", epsilon)
    record("rollout/action_entropy", entropy)
    record("time/steps_per_s", steps_per_s)
    on_interval = progress.step % t.config.run.log_interval < PUBLISH_EVERY
    t.store.publish(t.status(steps_per_s, epsilon), logged=on_interval)
    t.recorder.dump(progress.step, "chunk", sinks=(STORE,))
    check_health(t, epsilon, entropy, chunk, steps)
    if t.log and on_interval:
        log_interval(t, epsilon, entropy, steps_per_s)
    if t.log:
        t.log.maybe_flush()


def log_interval(t: Trainer, epsilon: float, entropy: float, steps_per_s: float) -> None:
    """A `train` record: the update figures over the whole interval, with the Q range they are judged by."""
    progress, record = t.progress, t.recorder.record
    record("train/updates", progress.updates, exclude=(TENSORBOARD,))
    record("rollout/epsilon", epsilon)
    record("rollout/action_entropy", entropy)
    record("time/steps_per_s", steps_per_s)
    interval = progress.take_unlogged_updates()
    if interval is not None:
        for name, (mean, low, high) in zip(UPDATE_METRICS, column_stats(interval), strict=False):
            record(f"train/{name}", Stats(mean, low, high, len(interval)))
        record("train/q_bound", t.q_bound, exclude=(TENSORBOARD,))
        record("train/q_range", list(t.q_range), exclude=(TENSORBOARD,))
    t.recorder.dump(progress.step, "train", sinks=FILES)


def check_health(t: Trainer, epsilon: float, entropy: float, updates: np.ndarray | None, steps: int) -> None:
    """`steps`: taken since the last check (their rewards are the buffer's newest rows)."""
    agent = t.agent_if_built
    alerts = t.health_checks.check(
        t.progress,
        total_steps=t.total_steps,
        warmup_steps=t.dqn.warmup_steps,
        schedule=t.epsilon,
        epsilon=epsilon,
        entropy=entropy,
        updates=updates,
        q_range=t.q_range,
        rewards=t.buffer.newest_rewards(steps),
        output_layer=None if agent is None else agent.params[-2:],
        target_return=t.info.target_return,
        evaluations_on=t.config.run.eval_freq <= t.total_steps,
    )
    for alert in alerts:
        t.event("alert", **alert)
        if alert["fatal"]:
            t.commands.diverge(alert["message"])


def evaluate_and_record(t: Trainer, scheduled: bool) -> Evaluation:
    previous, progress = t.state, t.progress
    t.set_state(RunState.EVALUATING)
    started = time.perf_counter()
    result = t.evaluate_now()
    progress.eval_time_s += time.perf_counter() - started
    evaluation = result.at(progress.step, scheduled)
    improved = progress.record_evaluation(evaluation, t.info.target_return)
    if scheduled:
        t.health_checks.new_evaluation = (progress.step, evaluation.mean)
    t.store.add_evaluation(evaluation)
    t.event("eval", **evaluation.to_dict())
    if scheduled and t.run_dir is not None:
        if improved:
            t.checkpoint("best")
        t.commands.checkpoint_requests.append(("periodic", None))
    record = t.recorder.record
    record("eval/scheduled", scheduled, exclude=(TENSORBOARD,))
    record("eval/mean_return" if scheduled else "eval/on_demand_mean_return", evaluation.mean)
    record("eval/std", evaluation.std, exclude=(TENSORBOARD,))
    record("eval/returns", list(evaluation.returns), exclude=(TENSORBOARD,))
    record("eval/lengths", list(evaluation.lengths), exclude=(TENSORBOARD,))
    t.recorder.dump(progress.step, "eval", sinks=FILES)
    t.set_state(previous)
    return evaluation
