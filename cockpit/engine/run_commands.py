"""How the trainer answers the control surface at a step boundary: pause and resume, evaluations,
checkpoint requests, stops, mutes and live hyperparameter changes; and what NaN/Inf does.

`RunCommands` owns the state these commands change (paused, a stop asked for, checkpoints asked
for) and acts on the trainer only through its public methods. Commands are dispatched by kind
through a table of handlers.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from cockpit.engine.config import validate_live_change
from cockpit.engine.config_values import ALERT_KINDS
from cockpit.engine.contract import Reply, RunState
from cockpit.engine.control import Command, CommandKind, reply
from cockpit.engine.envs import get_obs_stats

if TYPE_CHECKING:
    from cockpit.engine.trainer import Trainer

SCHEDULED_SOURCES = ("replay", "fork", "rollback")
"""Changes the trainer applies itself, not asked through the control surface (no pending slot)."""
Handler = Callable[[Command, Future], "Reply | None"]


class RunCommands:
    def __init__(self, trainer: Trainer):
        self.trainer = trainer
        self.paused = False
        self.stop_requested_at: float | None = None
        self.stop_now = False
        self.checkpoint_requests: list[tuple[str, Future | None]] = []
        self.handlers: dict[CommandKind, Handler] = {
            CommandKind.PAUSE: self._pause,
            CommandKind.RESUME: self._resume,
            CommandKind.EVALUATE: self._evaluate,
            CommandKind.SET: lambda command, future: self.apply_change(command),
            CommandKind.POLICY: self._policy,
            CommandKind.CHECKPOINT: self._checkpoint,
            CommandKind.MUTE: self._mute,
            CommandKind.UNMUTE: self._mute,
            CommandKind.STOP: self._stop,
        }

    @property
    def stop_requested(self) -> bool:
        return self.stop_requested_at is not None

    def stop_due(self, timeout_s: float) -> bool:
        """A stop that cannot wait for the episode's end: asked to stop now, or waiting too long."""
        return self.stop_requested_at is not None and (
            self.stop_now or time.monotonic() - self.stop_requested_at > timeout_s
        )

    def apply_waiting(self) -> None:
        """Apply queued commands; while paused, keep waiting for more (eval, set, stop still work)."""
        control = self.trainer.control
        while True:
            for command, future in control.drain():
                answer = self.handlers[command.kind](command, future)
                if answer is not None:
                    future.set_result(answer)
            if not self.paused:
                return
            control.wait(0.2)

    def take_requested_checkpoints(self) -> None:
        """At an episode boundary: the periodic and asked-for checkpoints due."""
        while self.checkpoint_requests:
            self.trainer.checkpoint(*self.checkpoint_requests.pop(0))

    def unanswered(self) -> list[Future]:
        return [f for _, f in self.checkpoint_requests if f]

    # ------------------------------------------------------------ handlers
    def _pause(self, command: Command, future: Future) -> Reply:
        t = self.trainer
        if not self.paused:
            self.paused = True
            t.set_state(RunState.PAUSED)
            t.event("pause", source=command.source)
        return reply(True, step=t.step, state=t.state.value)

    def _resume(self, command: Command, future: Future) -> Reply:
        t = self.trainer
        if self.paused:
            self.paused = False
            t.set_state(RunState.RUNNING)
            t.event("resume", source=command.source)
        return reply(True, step=t.step, state=t.state.value)

    def _evaluate(self, command: Command, future: Future) -> Reply:
        return reply(True, **self.trainer.evaluate(scheduled=False).to_dict())

    def _policy(self, command: Command, future: Future) -> Reply:
        t = self.trainer
        weights = {k: v.detach().clone().cpu() for k, v in t.agent.q.state_dict().items()}
        return reply(True, step=t.step, q=weights, obs_stats=get_obs_stats(t.env))

    def _checkpoint(self, command: Command, future: Future) -> Reply | None:
        t = self.trainer
        if t.run_dir is None:
            return reply(False, error="this run has no run directory to write checkpoints to")
        t.event("checkpoint_requested", source=command.source)
        self.checkpoint_requests.append(("demand", future))
        return None  # answered when written, at the next episode boundary

    def _mute(self, command: Command, future: Future) -> Reply:
        t, key, muted = self.trainer, command.key, command.kind == CommandKind.MUTE
        if key not in ALERT_KINDS:
            return reply(False, error=f"{key!r}: not an alert kind (expected one of {', '.join(ALERT_KINDS)})")
        (t.health.muted.add if muted else t.health.muted.discard)(key)
        t.event("alert_mute", alert=key, muted=muted, source=command.source)
        t.store.publish(t.status())
        return reply(True, step=t.step, alert=key, muted=muted)

    def _stop(self, command: Command, future: Future) -> Reply:
        t = self.trainer
        if self.stop_requested_at is None:
            self.stop_requested_at = time.monotonic()
            t.event("stop", source=command.source, immediate=command.value == "now")
        self.stop_now = self.stop_now or command.value == "now"
        if self.paused:
            self.paused = False
            t.set_state(RunState.RUNNING)
        return reply(True, step=t.step, message="stopping at the end of this episode")

    def apply_change(self, command: Command) -> Reply:
        """A live change, asked for or scheduled (replay, fork, rollback): in force from this step."""
        t, key, value = self.trainer, str(command.key), command.value
        asked = command.source not in SCHEDULED_SOURCES
        try:
            value = validate_live_change(t.current_config, key, value)
        except ValueError as e:
            if asked:
                t.control.change_applied()
            return reply(False, error=str(e))
        old = getattr(t.dqn, key)
        t.set_live_values(dataclasses.replace(t.dqn, **{key: value}))
        if key == "epsilon_end":
            t.epsilon.retarget(t.step, end=value)
        elif key == "epsilon_decay":
            t.epsilon.retarget(t.step, duration=value)
        pinned = t.last_checkpoint.name if t.last_checkpoint else None
        number, mean_before = t.progress.add_change(key, value, pinned)
        rollback = f"cockpit --fork {t.run_dir} --before-change {number}" if t.run_dir else None
        if asked:
            t.control.change_applied()
        t.event(
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
        t.store.publish(t.status())
        return reply(True, step=t.step, key=key, old=old, new=value, number=number, rollback=rollback)

    # ------------------------------------------------------------- NaN/Inf
    def diverge(self, message: str) -> None:
        """NaN/Inf: no checkpoint from now on; pause for a watcher, or stop keeping the last good one."""
        t = self.trainer
        t.diverged = message
        last_good = f"; {self.last_good()}"
        if t.on_non_finite == "pause":
            self.paused = True
            t.set_state(RunState.PAUSED)
            t.event("pause", source="alert", message=f"paused on non-finite values{last_good}")
        else:
            t.error = message + last_good
            self.stop_requested_at = time.monotonic()
            self.stop_now = True

    def last_good(self) -> str:
        last = self.trainer.last_checkpoint
        return f"last good checkpoint: {last}" if last else "no full checkpoint was taken before it"
