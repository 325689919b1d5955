"""The control surface: commands in, applied by the trainer at its next step boundary.

Commands and replies are plain data (`to_dict` / `from_dict`), because another process will send
them too. Any thread may call `Control`; only the trainer drains it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("pause", "resume", "evaluate", "checkpoint", "set", "stop", "policy", "mute", "unmute")


@dataclass(frozen=True)
class Command:
    kind: str
    key: str | None = None  # for "set": a live hyperparameter name; for "mute"/"unmute": an alert kind
    value: Any = None  # for "set": its new value
    source: str = "api"  # who asked: "ui", "headless", "ctl", "replay", ...

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

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


def reply(ok: bool, **fields: Any) -> dict:
    return {"ok": ok, **fields}


class Control:
    """Thread-safe queue of commands plus the one-change-at-a-time rule.

    `submit` returns a Future resolved with a reply dict once the trainer has acted (or at once,
    when the command is refused). `validate_change` is installed by the trainer so a bad value is
    refused when asked, not at the step boundary.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._queue: deque[tuple[Command, Future]] = deque()
        self.pending_change: Command | None = None
        self.waiting = False  # read by the trainer every step without the lock
        self.validate_change: Callable[[str, Any], Any] | None = None

    def submit(self, command: Command) -> Future:
        future: Future = Future()
        if command.kind == "set":
            try:
                value = self.validate_change(command.key, command.value) if self.validate_change else command.value
            except ValueError as e:
                future.set_result(reply(False, error=str(e)))
                return future
            command = Command("set", command.key, value, command.source)
        with self._lock:
            if command.kind == "set":
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
        return self.submit(Command("pause", source=source))

    def resume(self, source: str = "api") -> Future:
        return self.submit(Command("resume", source=source))

    def evaluate(self, source: str = "api") -> Future:
        return self.submit(Command("evaluate", source=source))

    def checkpoint(self, source: str = "api") -> Future:
        return self.submit(Command("checkpoint", source=source))

    def set(self, key: str, value: Any, source: str = "api") -> Future:
        return self.submit(Command("set", key, value, source))

    def policy(self, source: str = "api") -> Future:
        """A copy of the current weights (and normalizer statistics), taken at a step boundary."""
        return self.submit(Command("policy", source=source))

    def stop(self, source: str = "api") -> Future:
        return self.submit(Command("stop", source=source))

    def mute(self, kind: str, muted: bool = True, source: str = "api") -> Future:
        """Hide (or show again) one kind of alert; it is still counted."""
        return self.submit(Command("mute" if muted else "unmute", kind, source=source))
