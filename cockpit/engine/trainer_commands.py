"""How the trainer applies the control surface's commands at a step boundary: pause and resume,
evaluations, checkpoint requests, stops, and live hyperparameter changes with their recorded effect.

A mixin of `Trainer`: these methods read and change the trainer's own state.
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import Future

import numpy as np

from cockpit.engine.config import ALERT_KINDS, validate_live_change
from cockpit.engine.control import Command, reply
from cockpit.engine.envs import get_obs_stats
from cockpit.engine.rollback import own_changes

CHANGE_EFFECT_EPISODES = 10
"""Training episodes averaged before and after a live change to show its effect."""
SCHEDULED_SOURCES = ("replay", "fork", "rollback")
"""Changes the trainer applies itself, not asked through the control surface (no pending slot)."""


class CommandsMixin:
    def _apply_commands(self) -> None:
        """Apply queued commands; while paused, keep waiting for more (eval, set, stop still work)."""
        while True:
            for command, future in self.control.drain():
                answer = self._apply(command, future)
                if answer is not None:
                    future.set_result(answer)
            if not self.paused:
                return
            self.control.wait(0.2)

    def _apply(self, command: Command, future: Future) -> dict | None:
        kind = command.kind
        if kind == "pause":
            if not self.paused:
                self.paused = True
                self._set_state("paused")
                self._event("pause", source=command.source)
            return reply(True, step=self.step, state=self.state)
        if kind == "resume":
            if self.paused:
                self.paused = False
                self._set_state("running")
                self._event("resume", source=command.source)
            return reply(True, step=self.step, state=self.state)
        if kind == "evaluate":
            return reply(True, **self._evaluate(scheduled=False))
        if kind == "set":
            return self._apply_change(command)
        if kind == "policy":
            weights = {k: v.detach().clone().cpu() for k, v in self.agent.q.state_dict().items()}
            return reply(True, step=self.step, q=weights, obs_stats=get_obs_stats(self.env))
        if kind == "checkpoint":
            if self.run_dir is None:
                return reply(False, error="this run has no run directory to write checkpoints to")
            self._event("checkpoint_requested", source=command.source)
            self._checkpoint_requests.append(("demand", future))
            return None  # answered when written, at the next episode boundary
        if kind in ("mute", "unmute"):
            if command.key not in ALERT_KINDS:
                return reply(
                    False, error=f"{command.key!r}: not an alert kind (expected one of {', '.join(ALERT_KINDS)})"
                )
            (self.health.muted.add if kind == "mute" else self.health.muted.discard)(command.key)
            self._event("alert_mute", alert=command.key, muted=kind == "mute", source=command.source)
            self.store.publish(self._status())
            return reply(True, step=self.step, alert=command.key, muted=kind == "mute")
        if kind == "stop":
            if self._stop_requested_at is None:
                self._stop_requested_at = time.monotonic()
                self._event("stop", source=command.source, immediate=command.value == "now")
            self._stop_now = self._stop_now or command.value == "now"
            if self.paused:
                self.paused = False
                self._set_state("running")
            return reply(True, step=self.step, message="stopping at the end of this episode")
        return reply(False, error=f"{kind}: unknown command")

    def _apply_change(self, command: Command) -> dict:
        key, value = command.key, command.value
        try:
            value = validate_live_change(self.current_config, key, value)
        except ValueError as e:
            if command.source not in SCHEDULED_SOURCES:
                self.control.change_applied()
            return reply(False, error=str(e))
        old = getattr(self.dqn, key)
        self.dqn = dataclasses.replace(self.dqn, **{key: value})
        if key == "learning_rate":
            self.agent.set_learning_rate(value)
        elif key == "epsilon_end":
            self.epsilon.retarget(self.step, end=value)
        elif key == "epsilon_decay":
            self.epsilon.retarget(self.step, duration=value)
        # Numbered from 1 as events.jsonl, the events pane and `ctl` show them; the last full checkpoint
        # before the change is pinned (never rotated out) so that `--before-change` can go back to it.
        number = len(own_changes(self.applied_changes)) + 1
        pinned = self.last_checkpoint.name if self.last_checkpoint else None
        change = {"step": self.step, "key": key, "value": value, "number": number, "checkpoint": pinned}
        self.applied_changes.append(change)
        rollback = f"cockpit --fork {self.run_dir} --before-change {number}" if self.run_dir else None
        before = list(self.episode_returns)[-CHANGE_EFFECT_EPISODES:]
        mean_before = float(np.mean(before)) if before else None
        self._change_effects.append(
            {"step": self.step, "key": key, "value": value, "mean_before": mean_before, "after": []}
        )
        if command.source not in SCHEDULED_SOURCES:
            self.control.change_applied()
        self._event(
            "hparam",
            key=key,
            old=old,
            new=value,
            source=command.source,
            return_before=mean_before,
            number=number,
            checkpoint=pinned,
            rollback=rollback,
        )
        self.store.publish(self._status())
        return reply(True, step=self.step, key=key, old=old, new=value, number=number, rollback=rollback)

    def _track_change_effects(self, ep_return: float) -> None:
        for effect in self._change_effects[:]:
            effect["after"].append(ep_return)
            if len(effect["after"]) == CHANGE_EFFECT_EPISODES:
                self._change_effects.remove(effect)
                self._event(
                    "hparam_effect",
                    key=effect["key"],
                    value=effect["value"],
                    changed_at=effect["step"],
                    return_before=effect["mean_before"],
                    return_after=float(np.mean(effect["after"])),
                )
