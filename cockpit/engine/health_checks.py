"""Feeding the live health monitor from the loop's figures, and checking a state is finite.

`HealthChecks` remembers what it needs between two checks (the output layer's fingerprint, a
scheduled evaluation not yet judged); everything else it is given at each check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cockpit.engine import torch_side
from cockpit.engine.alerts import Health, HealthMonitor
from cockpit.engine.progress import RunProgress
from cockpit.engine.schedules import LinearSchedule


class HealthChecks:
    def __init__(self, monitor: HealthMonitor):
        self.monitor = monitor
        self.new_evaluation: tuple[int, float] | None = None
        self._fingerprint: float | None = None

    def check(
        self,
        progress: RunProgress,
        *,
        total_steps: int,
        warmup_steps: int,
        schedule: LinearSchedule,
        epsilon: float,
        entropy: float,
        updates: np.ndarray | None,
        q_range: tuple[float, float],
        rewards: np.ndarray,
        output_layer: Sequence[Any] | None,
        target_return: float,
        evaluations_on: bool,
    ) -> list[dict]:
        """The alerts this check raises; `output_layer`: the network's last weights (None before it exists)."""
        last = schedule.segments[-1]
        recent = list(progress.episode_returns)[-20:]
        evaluation, self.new_evaluation = self.new_evaluation, None
        last_change = next(((c["step"], c["key"], c["value"]) for c in progress.own_changes()[-1:]), None)
        return self.monitor.check(
            Health(
                step=progress.step,
                total_steps=total_steps,
                warmup_steps=warmup_steps,
                epsilon=epsilon,
                epsilon_end=last.end_value,
                epsilon_end_step=last.start_step + last.duration,
                action_counts=np.asarray(progress.action_counts),
                entropy=entropy,
                updates=updates,
                q_range=q_range,
                rewards=rewards,
                weights_changed=self._weights_changed(output_layer),
                evaluation=evaluation,
                recent_return=float(np.mean(recent)) if len(recent) >= 5 else None,
                target_return=target_return,
                evaluations_on=evaluations_on,
                last_change=last_change,
            )
        )

    def _weights_changed(self, output_layer: Sequence[Any] | None) -> bool | None:
        """Whether the output layer moved since the last check (its sum: cheap enough for every check)."""
        if output_layer is None:
            return None
        fingerprint = sum(float(p.detach().sum()) for p in output_layer)
        changed = fingerprint != self._fingerprint
        self._fingerprint = fingerprint
        return changed


def state_is_finite(pending_updates: list[list[float]], params: Sequence[Any]) -> bool:
    """No NaN or Inf in the update figures not yet published, nor in the network's weights."""
    torch_side.load()
    import torch

    return bool(np.isfinite(np.asarray(pending_updates)).all()) and all(bool(torch.isfinite(p).all()) for p in params)
