"""The trainer's side of the live health alerts: feeding the monitor, and what NaN/Inf does (pause
for a watcher, or stop keeping the last good checkpoint). A mixin of `Trainer`."""

from __future__ import annotations

import time

import numpy as np

from cockpit.engine import torch_side
from cockpit.engine.alerts import Health


class HealthMixin:
    def _check_health(self, epsilon: float, entropy: float, updates: np.ndarray | None) -> None:
        last = self.epsilon.segments[-1]
        recent = list(self.episode_returns)[-20:]
        health = Health(
            step=self.step, warmup_steps=self.dqn.warmup_steps, epsilon=epsilon, epsilon_end=last.end_value,
            epsilon_end_step=last.start_step + last.duration, action_counts=np.asarray(self._action_counts), entropy=entropy,
            updates=updates, q_bound=self.q_bound, recent_return=float(np.mean(recent)) if len(recent) >= 5 else None,
            target_return=self.info.target_return,
        )
        for alert in self.health.check(health):
            self._event("alert", **alert)
            if alert["fatal"]:
                self._diverge(alert["message"])

    def _diverge(self, message: str) -> None:
        """NaN/Inf: no checkpoint from now on; pause for a watcher, or stop keeping the last good one."""
        self.diverged = message
        last_good = (f"; last good checkpoint: {self.last_checkpoint}" if self.last_checkpoint
                     else "; no full checkpoint was taken before it")
        if self.on_non_finite == "pause":
            self.paused = True
            self._set_state("paused")
            self._event("pause", source="alert", message=f"paused on non-finite values{last_good}")
        else:
            self.error = message + last_good
            self._stop_requested_at = time.monotonic()
            self._stop_now = True

    def _state_is_finite(self) -> bool:
        torch_side.load()
        import torch

        updates = np.asarray(self._pending_updates)
        return bool(np.isfinite(updates).all()) and all(bool(torch.isfinite(p).all()) for p in self.agent.params)

