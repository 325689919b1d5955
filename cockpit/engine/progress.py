"""A run's progress: everything the loop counts and remembers that a full checkpoint must carry.

Counters, recent returns, evaluations, live changes and their pending effects, timers, the recent
actions behind the action entropy, and update figures not yet published. The trainer owns one
`RunProgress`; checkpoints write it with `to_dict` and `arrays` and read it back with `from_dict`,
never the trainer's own attributes.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cockpit.engine.contract import Evaluation
from cockpit.engine.metrics import UPDATE_METRICS
from cockpit.engine.rollback import own_changes

CHANGE_EFFECT_EPISODES = 10
"""Training episodes averaged before and after a live change to show its effect."""
ENTROPY_WINDOW = 1000
"""Recent steps over which the action distribution's entropy is measured."""
RETURNS_KEPT = 100
"""Training episodes whose returns are kept (for change effects and the health checks)."""


@dataclass
class RunProgress:
    n_actions: int
    step: int = 0
    episode: int = 0
    updates: int = 0
    episode_returns: deque[float] = field(default_factory=lambda: deque(maxlen=RETURNS_KEPT))
    best_eval: float = -math.inf
    last_eval: Evaluation | None = None
    first_step_reaching_target: int | None = None
    applied_changes: list[dict] = field(default_factory=list)
    """Live changes in force, in order: {step, key, value, number, checkpoint[, inherited]}."""
    change_effects: list[dict] = field(default_factory=list)
    """Changes whose effect is still being measured: {step, key, value, mean_before, after: [returns]}."""
    train_time_s: float = 0.0
    eval_time_s: float = 0.0
    # Python lists: the loop touches one or two items per step, where NumPy's scalar indexing costs more.
    recent_actions: list[int] = field(default_factory=lambda: [0] * ENTROPY_WINDOW)
    action_counts: list[int] = field(init=False)
    pending_updates: list[list[float]] = field(default_factory=list)
    """Each update's figures (UPDATE_METRICS) since the last publish."""
    unlogged_updates: list[np.ndarray] = field(default_factory=list)
    """Published chunks of update figures not yet aggregated into a metrics record."""

    def __post_init__(self) -> None:
        self.action_counts = [0] * self.n_actions

    @property
    def best_eval_or_none(self) -> float | None:
        return None if self.best_eval == -math.inf else self.best_eval

    def action_entropy(self) -> float:
        counts = np.asarray(self.action_counts, dtype=np.float64)
        p = counts[counts > 0] / max(1.0, counts.sum())
        return float(-(p * np.log(p)).sum())

    def take_pending_updates(self) -> np.ndarray | None:
        """The update figures since the last publish (also kept for the next metrics record), or None."""
        if not self.pending_updates:
            return None
        chunk = np.asarray(self.pending_updates)
        self.pending_updates.clear()
        self.unlogged_updates.append(chunk)
        return chunk

    def take_unlogged_updates(self) -> np.ndarray | None:
        if not self.unlogged_updates:
            return None
        chunk = np.concatenate(self.unlogged_updates)
        self.unlogged_updates.clear()
        return chunk

    def record_evaluation(self, evaluation: Evaluation, target_return: float) -> bool:
        """Remember an evaluation; a scheduled one may be the best or the first to reach the target.
        Returns whether it improved on the best."""
        self.last_eval = evaluation
        if not evaluation.scheduled:
            return False
        improved = evaluation.mean > self.best_eval
        self.best_eval = max(self.best_eval, evaluation.mean)
        if self.first_step_reaching_target is None and not math.isnan(target_return):
            if evaluation.mean >= target_return:
                self.first_step_reaching_target = self.step
        return improved

    def own_changes(self) -> list[dict]:
        """This run's own live changes (a fork's inherited ones are its parent's)."""
        return own_changes(self.applied_changes)

    def add_change(self, key: str, value: Any, pinned: str | None) -> tuple[int, float | None]:
        """Record a live change applied now, and start measuring its effect; returns its number (from 1,
        as events.jsonl, the events pane and `ctl` show them) and the mean return of the episodes before.
        `pinned`: the last full checkpoint before it, never rotated out, for `--before-change`."""
        number = len(self.own_changes()) + 1
        self.applied_changes.append(
            {"step": self.step, "key": key, "value": value, "number": number, "checkpoint": pinned}
        )
        before = list(self.episode_returns)[-CHANGE_EFFECT_EPISODES:]
        mean_before = float(np.mean(before)) if before else None
        self.change_effects.append(
            {"step": self.step, "key": key, "value": value, "mean_before": mean_before, "after": []}
        )
        return number, mean_before

    def track_effects(self, ep_return: float) -> list[dict]:
        """Count a finished episode for the changes being measured; returns those measured in full."""
        done = []
        for effect in self.change_effects[:]:
            effect["after"].append(ep_return)
            if len(effect["after"]) == CHANGE_EFFECT_EPISODES:
                self.change_effects.remove(effect)
                done.append(effect)
        return done

    # ------------------------------------------------------- checkpoints
    def to_dict(self) -> dict[str, Any]:
        """The JSON part (a checkpoint's meta.json keys, as they have always been named)."""
        return {
            "step": self.step,
            "episode": self.episode,
            "updates": self.updates,
            "episode_returns": list(self.episode_returns),
            "best_eval": self.best_eval_or_none,
            "last_eval": None if self.last_eval is None else self.last_eval.to_dict(),
            "first_step_reaching_target": self.first_step_reaching_target,
            "applied_changes": self.applied_changes,
            "change_effects": self.change_effects,
            "train_time_s": self.train_time_s,
            "eval_time_s": self.eval_time_s,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """The array part (a checkpoint's state.pt keys)."""
        width = len(UPDATE_METRICS)
        return {
            "recent_actions": np.asarray(self.recent_actions, dtype=np.int64),
            "action_counts": np.asarray(self.action_counts, dtype=np.int64),
            "pending_updates": np.asarray(self.pending_updates, dtype=np.float64).reshape(-1, width),
            "log_updates": np.concatenate(self.unlogged_updates) if self.unlogged_updates else np.zeros((0, width)),
        }

    @classmethod
    def from_dict(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], n_actions: int) -> RunProgress:
        progress = cls(
            n_actions=n_actions,
            step=meta["step"],
            episode=meta["episode"],
            updates=meta["updates"],
            best_eval=-math.inf if meta["best_eval"] is None else meta["best_eval"],
            last_eval=None if meta["last_eval"] is None else Evaluation.from_dict(meta["last_eval"]),
            first_step_reaching_target=meta["first_step_reaching_target"],
            applied_changes=list(meta["applied_changes"]),
            change_effects=list(meta["change_effects"]),
            train_time_s=meta["train_time_s"],
            eval_time_s=meta["eval_time_s"],
            recent_actions=arrays["recent_actions"].tolist(),
            pending_updates=arrays["pending_updates"].tolist(),
            unlogged_updates=[arrays["log_updates"]] if len(arrays["log_updates"]) else [],
        )
        progress.episode_returns.extend(meta["episode_returns"])
        progress.action_counts = arrays["action_counts"].tolist()
        return progress


class TrainingClock:
    """The training time of a chunk of steps: what runs `stopped()` (commands, a pause, an evaluation,
    the network's loading) is left out, as the peers leave such things out of their steps/s."""

    def __init__(self) -> None:
        self.start, self.banked = time.perf_counter(), 0.0

    @contextmanager
    def stopped(self) -> Iterator[None]:
        self.banked += time.perf_counter() - self.start
        try:
            yield
        finally:
            self.start = time.perf_counter()

    def lap(self) -> float:
        """The chunk's training time so far; the next chunk starts now."""
        now = time.perf_counter()
        elapsed, self.start, self.banked = self.banked + now - self.start, now, 0.0
        return elapsed
