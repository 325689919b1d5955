"""The control surface: commands in, applied by the trainer at its next step boundary.

Commands and replies are plain data (`to_dict` / `from_dict`), because another process will send
them too. Any thread may call `Control`; only the trainer drains it. Whatever another thread wants
of the trainer goes through here: commands, and whether someone watches the run (which decides what
NaN does when the preset leaves it to the front end).
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Protocol

from cockpit.engine.config import Config, validate_live_change
from cockpit.engine.contract import PendingChange, Reply


class CommandKind(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    EVALUATE = "evaluate"
    CHECKPOINT = "checkpoint"
    SET = "set"  # key: a live hyperparameter, value: its new value
    STOP = "stop"  # value "now": checkpoint at once (inexact) instead of at the episode's end
    POLICY = "policy"  # a copy of the current weights, for a render
    MUTE = "mute"  # key: an alert kind
    UNMUTE = "unmute"


KINDS = tuple(kind.value for kind in CommandKind)


@dataclass(frozen=True)
class Command:
    kind: CommandKind
    key: str | None = None  # for "set": a live hyperparameter name; for "mute"/"unmute": an alert kind
    value: Any = None  # for "set": its new value
    source: str = "api"  # who asked: "ui", "headless", "ctl", "replay", ...

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CommandKind(self.kind))

    def as_pending(self) -> PendingChange:
        """A live change asked for, as the status shows it until it is applied."""
        return PendingChange(str(self.key), self.value, self.source)

    def to_dict(self) -> dict:
        return {k: (v.value if isinstance(v, CommandKind) else v) for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> Command:
        if not isinstance(data, dict) or data.get("kind") not in KINDS:
            raise ValueError(f"command {data!r}: expected an object with kind one of {', '.join(KINDS)}")
        unknown = set(data) - {"kind", "key", "value", "source"}
        if unknown:
            raise ValueError(f"command {data!r}: unknown fields {', '.join(sorted(unknown))}")
        if data["kind"] == "set" and not isinstance(data.get("key"), str):
            raise ValueError(f"command {data!r}: 'set' needs a key (a hyperparameter name) and a value")
        if data["kind"] in ("mute", "unmute") and not isinstance(data.get("key"), str):
            raise ValueError(f"command {data!r}: '{data['kind']}' needs a key (an alert kind)")
        return cls(**data)


def reply(ok: bool, error: str | None = None, **data: Any) -> Reply:
    """A command's answer (see `Reply`); a refusal says why in `error`."""
    return Reply(ok, error, data)


class ControlSurface(Protocol):
    """What a front end steers a run with: `Control` in process, `RemoteControl` over a socket."""

    @property
    def connected(self) -> bool: ...
    @property
    def pending_change(self) -> Command | None: ...
    def submit(self, command: Command) -> Future: ...
    def pause(self, source: str = ...) -> Future: ...
    def resume(self, source: str = ...) -> Future: ...
    def evaluate(self, source: str = ...) -> Future: ...
    def checkpoint(self, source: str = ...) -> Future: ...
    def set(self, key: str, value: Any, source: str = ...) -> Future: ...
    def policy(self, source: str = ...) -> Future: ...
    def stop(self, source: str = ...) -> Future: ...
    def mute(self, kind: str, muted: bool = ..., source: str = ...) -> Future: ...
    def close(self) -> None: ...


class Control:
    """Thread-safe queue of commands plus the one-change-at-a-time rule.

    `submit` returns a Future resolved with a `Reply` once the trainer has acted (or at once,
    when the command is refused). A live change is checked against the config the trainer last
    published (`publish_config`), so that a bad value is refused when asked, not at the step boundary.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._queue: deque[tuple[Command, Future]] = deque()
        self.pending_change: Command | None = None
        self.waiting = False  # read by the trainer every step without the lock
        self.watched = False  # someone watches the run (a viewer subscribed); read by the trainer
        self._config: Config | None = None

    @property
    def connected(self) -> bool:
        """In process, the run is always there (a remote control's connection may not be)."""
        return True

    def close(self) -> None:
        """Nothing to let go of in process."""

    def publish_config(self, config: Config) -> None:
        """The trainer's config with the live values in force: what a change is checked against."""
        self._config = config

    def set_watched(self, watched: bool) -> None:
        self.watched = watched

    def submit(self, command: Command) -> Future:
        future: Future = Future()
        if command.kind == CommandKind.SET:
            try:
                value = self._checked(command.key, command.value)
            except ValueError as e:
                future.set_result(reply(False, error=str(e)))
                return future
            command = Command(CommandKind.SET, command.key, value, command.source)
        with self._lock:
            if command.kind == CommandKind.SET:
                if self.pending_change is not None:
                    p = self.pending_change
                    future.set_result(
                        reply(False, error=f"a change is pending: {p.key} = {p.value!r}; one change at a time")
                    )
                    return future
                self.pending_change = command
            self._queue.append((command, future))
            self.waiting = True
            self._wakeup.notify_all()
        return future

    def _checked(self, key: str | None, value: Any) -> Any:
        if self._config is None:
            return value
        return validate_live_change(self._config, str(key), value)

    def drain(self) -> list[tuple[Command, Future]]:
        with self._lock:
            items = list(self._queue)
            self._queue.clear()
            self.waiting = False
            return items

    def change_applied(self) -> None:
        with self._lock:
            self.pending_change = None

    def wait(self, timeout: float) -> None:
        """Block until a command arrives (the trainer, while paused)."""
        with self._lock:
            if not self._queue:
                self._wakeup.wait(timeout)

    # Convenience for in-process front ends.
    def pause(self, source: str = "api") -> Future:
        return self.submit(Command(CommandKind.PAUSE, source=source))

    def resume(self, source: str = "api") -> Future:
        return self.submit(Command(CommandKind.RESUME, source=source))

    def evaluate(self, source: str = "api") -> Future:
        return self.submit(Command(CommandKind.EVALUATE, source=source))

    def checkpoint(self, source: str = "api") -> Future:
        return self.submit(Command(CommandKind.CHECKPOINT, source=source))

    def set(self, key: str, value: Any, source: str = "api") -> Future:
        return self.submit(Command(CommandKind.SET, key, value, source))

    def policy(self, source: str = "api") -> Future:
        """A copy of the current weights (and normalizer statistics), taken at a step boundary."""
        return self.submit(Command(CommandKind.POLICY, source=source))

    def stop(self, source: str = "api") -> Future:
        return self.submit(Command(CommandKind.STOP, source=source))

    def mute(self, kind: str, muted: bool = True, source: str = "api") -> Future:
        """Hide (or show again) one kind of alert; it is still counted."""
        return self.submit(Command(CommandKind.MUTE if muted else CommandKind.UNMUTE, kind, source=source))
