"""Live health alerts: the trainer's figures checked every publish interval against the failure
modes practitioners meet most (divergence, overestimation, not learning, exploration collapse,
a plateau long after exploration ended).

Each alert fires once per episode of trouble: it re-arms only after its condition has cleared.
Every message names the step, the figure and the threshold, and says what to look at next.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from cockpit.engine.config import AlertsConfig

MEDIAN_WINDOW = 50
"""Publish intervals (of 100 steps) in the running medians of loss and gradient norm."""


@dataclass
class Health:
    """What the monitor sees at one publish interval."""

    step: int
    warmup_steps: int
    epsilon: float
    epsilon_end: float
    epsilon_end_step: int  # the step at which the current schedule reaches its end
    action_counts: np.ndarray  # over the recent window
    entropy: float
    updates: np.ndarray | None  # rows of (loss, q_mean, q_max, grad_norm) since the last check
    q_bound: float
    recent_return: float | None  # mean raw return of the last episodes
    target_return: float


@dataclass
class HealthMonitor:
    cfg: AlertsConfig
    active: set = field(default_factory=set)
    _losses: deque = field(default_factory=lambda: deque(maxlen=MEDIAN_WINDOW))
    _grads: deque = field(default_factory=lambda: deque(maxlen=MEDIAN_WINDOW))
    _best_return: float = -math.inf
    _best_return_step: int = 0

    def check(self, h: Health) -> list[dict]:
        """Alerts that start now: dicts with name, message, fatal."""
        found: dict[str, tuple[str, bool]] = {}
        if h.updates is not None and len(h.updates):
            self._updates(h, found)
        self._exploration(h, found)
        self._plateau(h, found)
        started = [{"name": name, "message": message, "fatal": fatal}
                   for name, (message, fatal) in found.items() if name not in self.active]
        self.active = set(found)
        return started

    def _updates(self, h: Health, found: dict) -> None:
        c = self.cfg
        loss, _, _, grad = h.updates.T
        finite = np.isfinite(h.updates).all(axis=0)  # one pass over the interval's rows
        bad = [name for name, i in (("loss", 0), ("Q", 2), ("gradient norm", 3)) if not finite[i]]
        if bad:
            found["non_finite"] = (
                f"non-finite {' and '.join(bad)} at step {h.step:,}: training diverged. Look at: the learning "
                "rate, reward scale (clip rewards), the loss (huber is robust), gradient clipping", True)
            return
        loss_mean, q_mean, _, grad_mean = h.updates.mean(axis=0).tolist()
        loss_max, grad_max = float(loss.max()), float(grad.max())
        if self._grads and grad_max > c.grad_spike_factor * statistics.median(self._grads):
            found["grad_spike"] = (
                f"gradient norm {grad_max:.3g} at step {h.step:,} > {c.grad_spike_factor:g}× its running median "
                f"{statistics.median(self._grads):.3g}. Look at: loss, learning rate, max_grad_norm", False)
        if self._losses and loss_max > c.loss_spike_factor * max(statistics.median(self._losses), 1e-8):
            found["loss_spike"] = (
                f"loss {loss_max:.3g} at step {h.step:,} > {c.loss_spike_factor:g}× its running median "
                f"{statistics.median(self._losses):.3g}: exploding. Look at: learning rate, target_update, reward scale", False)
        self._grads.append(grad_mean)
        self._losses.append(loss_mean)
        # Either sign: Q diverging downward is as broken. A bound of 0 means no reward was seen in
        # random play (sparse rewards), not that every Q must be 0.
        if math.isfinite(h.q_bound) and h.q_bound > 0 and abs(q_mean) > c.q_bound_factor * h.q_bound:
            found["q_over_bound"] = (
                f"mean Q {q_mean:.3g} at step {h.step:,} beyond its bound ±{c.q_bound_factor:g}× "
                f"r_max·(1-γ^T)/(1-γ) = {h.q_bound:.3g}: overestimation or divergence. Look at: double_dqn, "
                "target_update (longer), learning rate (lower)", False)
        if (h.step > h.warmup_steps + c.q_zero_after_steps and math.isfinite(h.q_bound)
                and abs(q_mean) < c.q_zero_fraction * h.q_bound):
            found["q_near_zero"] = (
                f"|mean Q| {abs(q_mean):.3g} at step {h.step:,} < {c.q_zero_fraction:g}× its bound "
                f"{h.q_bound:.3g}, {c.q_zero_after_steps:,} steps after warm-up: not learning. Look at: rewards "
                "(cockpit check), gradients reaching the network, learning rate", False)

    def _exploration(self, h: Health, found: dict) -> None:
        c = self.cfg
        total = h.action_counts.sum()
        if total < 100 or len(h.action_counts) < 2:
            return
        share = h.action_counts.max() / total
        if h.step > h.warmup_steps and h.epsilon >= c.collapse_min_epsilon and share > c.collapse_action_share:
            found["action_collapse"] = (
                f"action {int(h.action_counts.argmax())} took {share:.0%} of recent steps at step {h.step:,} while "
                f"ε = {h.epsilon:.2f} (threshold {c.collapse_action_share:.0%}): exploration collapsed. Look at: "
                "the epsilon schedule, whether actions differ (cockpit play)", False)
        max_entropy = math.log(len(h.action_counts))
        if h.step < h.epsilon_end_step and h.entropy < c.entropy_floor * max_entropy:
            found["low_entropy"] = (
                f"action entropy {h.entropy:.3f} at step {h.step:,} < {c.entropy_floor:g}× its maximum "
                f"{max_entropy:.3f} before epsilon reached its end: the agent barely explores. Look at: "
                "epsilon_start, epsilon_decay", False)

    def _plateau(self, h: Health, found: dict) -> None:
        c = self.cfg
        if h.recent_return is None:
            return
        tolerance = c.flat_tolerance * max(abs(self._best_return), 1.0) if math.isfinite(self._best_return) else 0
        if h.recent_return > self._best_return + tolerance:
            self._best_return, self._best_return_step = h.recent_return, h.step
        solved = math.isfinite(h.target_return) and h.recent_return >= h.target_return
        flat_since = max(self._best_return_step, h.epsilon_end_step)
        if not solved and h.step > h.epsilon_end_step and h.step - flat_since > c.flat_after_steps:
            found["flat_return"] = (
                f"training return flat at {h.recent_return:.1f} for {h.step - flat_since:,} steps (threshold "
                f"{c.flat_after_steps:,}) after epsilon reached its end (ε = {h.epsilon_end:g}). Look at: "
                "learning rate, network size, exploration (epsilon_end)", False)
