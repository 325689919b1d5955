"""The trainer's side of the live health alerts: feeding the monitor, and what NaN/Inf does (pause
for a watcher, or stop keeping the last good checkpoint). A mixin of `Trainer`."""

from __future__ import annotations

import time

import numpy as np

from cockpit.engine import torch_side
from cockpit.engine.alerts import Health
from cockpit.engine.rollback import own_changes


class HealthMixin:
    def _check_health(self, epsilon: float, entropy: float, updates: np.ndarray | None, steps: int) -> None:
        """`steps`: taken since the last check (their rewards are the buffer's newest rows)."""
        last = self.epsilon.segments[-1]
        recent = list(self.episode_returns)[-20:]
        evaluation, self._new_evaluation = self._new_evaluation, None
        health = Health(
            step=self.step,
            total_steps=self.total_steps,
            warmup_steps=self.dqn.warmup_steps,
            epsilon=epsilon,
            epsilon_end=last.end_value,
            epsilon_end_step=last.start_step + last.duration,
            action_counts=np.asarray(self._action_counts),
            entropy=entropy,
            updates=updates,
            q_range=self.q_range,
            rewards=self.buffer.newest_rewards(steps),
            weights_changed=self._weights_changed(),
            evaluation=evaluation,
            recent_return=float(np.mean(recent)) if len(recent) >= 5 else None,
            target_return=self.info.target_return,
            evaluations_on=self.config.run.eval_freq <= self.total_steps,
            last_change=next(((c["step"], c["key"], c["value"]) for c in own_changes(self.applied_changes)[-1:]), None),
        )
        for alert in self.health.check(health):
            self._event("alert", **alert)
            if alert["fatal"]:
                self._diverge(alert["message"])

    def _weights_changed(self) -> bool | None:
        """Whether the output layer moved since the last check (a few microseconds: its sum)."""
        if self._agent is None:
            return None
        fingerprint = sum(float(p.sum()) for p in self._agent.params[-2:])
        changed = fingerprint != self._weights_fingerprint
        self._weights_fingerprint = fingerprint
        return changed

    def _diverge(self, message: str) -> None:
        """NaN/Inf: no checkpoint from now on; pause for a watcher, or stop keeping the last good one."""
        self.diverged = message
        last_good = f"; {self._last_good()}"
        if self.on_non_finite == "pause":
            self.paused = True
            self._set_state("paused")
            self._event("pause", source="alert", message=f"paused on non-finite values{last_good}")
        else:
            self.error = message + last_good
            self._stop_requested_at = time.monotonic()
            self._stop_now = True

    def _last_good(self) -> str:
        return (
            f"last good checkpoint: {self.last_checkpoint}"
            if self.last_checkpoint
            else "no full checkpoint was taken before it"
        )

    def _state_is_finite(self) -> bool:
        torch_side.load()
        import torch

        updates = np.asarray(self._pending_updates)
        return bool(np.isfinite(updates).all()) and all(bool(torch.isfinite(p).all()) for p in self.agent.params)
