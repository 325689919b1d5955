"""The viewer's side: a connection to a run's socket, and the `Control` and `MetricsStore` a front
end uses, backed by it (the cockpit takes them as they are).

`Connection` sends requests from any thread and returns Futures; one reader thread routes what
comes back: replies to their Future, updates to a callback, render frames to their stream.
`RemoteStore` starts from the run's logs (`load_history`) and applies the live updates on top.
"""

from __future__ import annotations

import itertools
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cockpit.engine.contract import Evaluation, Event, Reply, RunStatus
from cockpit.engine.control import Command, CommandKind
from cockpit.engine.metrics import MetricsStore, Series
from cockpit.remote.protocol import MAX_MESSAGE, LineReader, ProtocolError, decode, decode_frame, encode

CONNECT_TIMEOUT_S = 5.0
SET_ANSWER_S = 0.5
"""How long `set` waits for the run's answer, so that a refused value is refused in the dialog."""
_END = object()


class ConnectionLost(Exception):
    """The run is not there (any more): it ended, was killed, or nothing listens on the socket."""


class Busy(ConnectionLost):
    """The run is alive but refused the connection: all its viewer slots are taken."""


@dataclass
class RemoteFrame:
    """One streamed render frame, read like `rendering.RenderedStep`."""

    frame: Any  # (height, width, 3) uint8 array, downscaled by the server
    step: int
    action: int | None
    reward: float
    episode_return: float
    done: bool


class Connection:
    def __init__(self, path: str | Path, timeout: float = CONNECT_TIMEOUT_S):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(str(path))
        except OSError as e:
            self.sock.close()
            raise ConnectionLost(f"{path}: {e.strerror or e}") from None
        self.sock.settimeout(None)
        self.closed: str | None = None
        self.hello: dict | None = None
        self.refused: dict | None = None  # the server's reason, sent instead of the greeting
        self.dropped = 0  # updates and frames the server dropped because this viewer fell behind
        self.errors: list[str] = []  # errors the server sent about no request in particular
        self.on_update: Callable[[dict], None] | None = None
        self.on_close: Callable[[str], None] | None = None
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._waiting: dict[int, Future] = {}
        self._streams: dict[int, queue.Queue] = {}
        self._greeted = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, name="cockpit-remote", daemon=True)
        self._reader.start()
        if not self._greeted.wait(timeout) or self.hello is None:
            self.close()
            if self.refused is not None:
                raise Busy(self.refused.get("message") or "busy: all viewer slots taken")
            raise ConnectionLost(f"{path}: no greeting from the run ({self.closed or 'timed out'})")

    # ------------------------------------------------------------- requests
    def request(self, what: str, body: Any = True, stream: bool = False) -> tuple[int, Future]:
        """Send one request; the Future resolves with the reply dict (ProtocolError for an error
        answer, ConnectionLost when the run goes). With `stream`, frames queue up for `frames(id)`."""
        future: Future = Future()
        with self._lock:
            if self.closed:
                future.set_exception(ConnectionLost(self.closed))
                return 0, future
            rid = next(self._ids)
            self._waiting[rid] = future
            if stream:
                self._streams[rid] = queue.Queue()
        try:
            with self._write_lock:
                self.sock.sendall(encode({"id": rid, what: body}))
        except OSError as e:
            self._lost(f"cannot send ({e.strerror or e})")
        return rid, future

    def subscribe(
        self, on_update: Callable[[dict], None], since_step: float = -1, since_time: float | None = None
    ) -> Future:
        self.on_update = on_update
        return self.request("subscribe", {"since_step": since_step, "since_time": since_time})[1]

    def frames(self, rid: int) -> Iterator[RemoteFrame]:
        """A render's frames as they arrive; closing the iterator early cancels the render."""
        stream = self._streams.get(rid)
        finished = stream is None
        try:
            while stream is not None and not finished:
                item = stream.get()
                if item is _END or "end" in item:
                    finished = True
                    return
                f = item["frame"]
                yield RemoteFrame(
                    decode_frame(f), f["step"], f["action"], f["reward"] or 0.0, f["return"] or 0.0, f["done"]
                )
        finally:
            self._streams.pop(rid, None)
            if not finished and not self.closed:
                self.request("cancel", rid)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # not connected any more
        self._reader.join(2)
        self._lost("closed by this viewer")

    # ------------------------------------------------------------- reading
    def _read_loop(self) -> None:
        reader = LineReader(MAX_MESSAGE)
        reason = "the run closed the connection"
        try:
            while True:
                data = self.sock.recv(1 << 16)
                if not data:
                    break
                for line in reader.feed(data):
                    if line is not None:
                        self._dispatch(decode(line))
        except (OSError, ProtocolError) as e:
            reason = f"connection broken ({e})"
        finally:
            self._lost(reason)

    def _dispatch(self, message: dict) -> None:
        if "hello" in message:
            self.hello = message["hello"]
            self._greeted.set()
        elif "refused" in message:
            self.refused = message["refused"] if isinstance(message["refused"], dict) else {}
            self._greeted.set()
        elif "update" in message:
            if self.on_update:
                self.on_update(message["update"])
        elif "dropped" in message:
            self.dropped += message["dropped"]
        elif "render" in message:
            stream = self._streams.get(message["render"])
            if stream is not None:
                stream.put(message)
        elif message.get("id") is not None:
            with self._lock:
                future = self._waiting.pop(message["id"], None)
            if future is None:
                return
            if "error" in message:
                future.set_exception(ProtocolError(message["error"]))
            else:
                future.set_result(message["reply"])
            stream = self._streams.get(message["id"])
            if stream is not None and not message.get("reply", {}).get("ok"):
                stream.put(_END)
        elif "error" in message:
            self.errors.append(message["error"])

    def _lost(self, reason: str) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = reason
            waiting, self._waiting = self._waiting, {}
        self._greeted.set()
        for future in waiting.values():
            future.set_exception(ConnectionLost(reason))
        for stream in list(self._streams.values()):
            stream.put(_END)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader if another thread got here first
        except OSError:
            pass  # not connected any more
        self.sock.close()
        if self.on_close:
            self.on_close(reason)


class RemoteControl:
    """`Control`'s front-end API over a connection: every method returns a Future of a `Reply` (a lost
    connection answers one refused, with `lost` in its data). `policy` asks the run to render."""

    def __init__(self, connection: Connection, store: MetricsStore | None = None, source: str = "attach"):
        self.connection = connection
        self.store = store
        self.source = source

    @property
    def connected(self) -> bool:
        return not self.connection.closed

    @property
    def pending_change(self) -> Command | None:
        pending = self.store.status.pending_change if self.store else None
        return None if pending is None else Command(CommandKind.SET, pending.key, pending.value, pending.source)

    def request(self, what: str, body: Any = True) -> Future:
        return _answered(self.connection.request(what, body)[1])

    def submit(self, command: Command) -> Future:
        if command.kind == CommandKind.POLICY:
            return self.policy()
        return self.request("cmd", Command(command.kind, command.key, command.value, self.source).to_dict())

    def pause(self, source: str = "attach") -> Future:
        return self.submit(Command(CommandKind.PAUSE))

    def resume(self, source: str = "attach") -> Future:
        return self.submit(Command(CommandKind.RESUME))

    def evaluate(self, source: str = "attach") -> Future:
        return self.submit(Command(CommandKind.EVALUATE))

    def checkpoint(self, source: str = "attach") -> Future:
        return self.submit(Command(CommandKind.CHECKPOINT))

    def stop(self, source: str = "attach") -> Future:
        return self.submit(Command(CommandKind.STOP))

    def mute(self, kind: str, muted: bool = True, source: str = "attach") -> Future:
        return self.submit(Command(CommandKind.MUTE if muted else CommandKind.UNMUTE, kind))

    def set(self, key: str, value: Any, source: str = "attach") -> Future:
        """Waits briefly for the answer: a refusal is known before the caller moves on."""
        future = self.submit(Command(CommandKind.SET, key, value))
        wait_futures([future], SET_ANSWER_S)
        return future

    def policy(self, source: str = "attach") -> Future:
        """The run plays a greedy episode of its current weights and streams the frames: resolves
        with {"ok": True, "step": S, "frames": iterator of RemoteFrame} once the first is ready."""
        rid, started = self.connection.request("render", {"source": self.source}, stream=True)
        answer: Future = Future()

        def on_started(f: Future) -> None:
            result = _reply_of(f)
            if result.ok:
                result = Reply(True, None, {**result.data, "frames": self.connection.frames(rid)})
            answer.set_result(result)

        started.add_done_callback(on_started)
        return answer

    def close(self) -> None:
        self.connection.close()


def _reply_of(future: Future) -> Reply:
    error = future.exception()
    if error is not None:
        return Reply(False, str(error), {"lost": isinstance(error, ConnectionLost)})
    return Reply.from_dict(future.result())


def _answered(future: Future) -> Future:
    answer: Future = Future()
    future.add_done_callback(lambda f: answer.set_result(_reply_of(f)))
    return answer


class RemoteStore(MetricsStore):
    """A store filled from the run's logs, then kept current by the server's updates (the wire's
    dicts, read as the engine's types here)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._changed = threading.Condition()
        self.lost_reason: str | None = None
        self.connection_state: str | None = None
        """What the viewer knows of its connection, shown instead of the run's state: "disconnected"
        (lost), "not listening" (a live run that takes no viewers)."""

    def apply(self, update: dict) -> None:
        with self._lock:
            self.status = RunStatus.from_dict({**self.status.to_dict(), **update["status"]})
            for key, points in update.get("series", {}).items():
                series = self.series.setdefault(key, Series())
                for step, mean, low, high, weight in points:
                    series.add(step, _number(mean), _number(low), _number(high), weight)
            self.evaluations.extend(Evaluation.from_dict(e) for e in update.get("evaluations", []))
            for event in update.get("events", []):
                self.events.append(Event.from_dict(event))
                self.event_count += 1
                if len(self.events) > self.max_events:
                    self.events.popleft()
            self.version += 1
        with self._changed:
            self._changed.notify_all()

    def lost(self, reason: str) -> None:
        """The connection went: a run that had not ended shows as disconnected, with the reason."""
        self.lost_reason = reason
        if not self.status.state.ended:
            self.connection_state = "disconnected"
            message = f"lost the connection to the run: {reason}"
            self.add_event(Event("error", self.status.step, time.time(), {"message": message}))
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[RunStatus], bool], timeout: float) -> bool:
        """Block until `predicate(status)` holds (after an update), or the timeout; True if it holds."""
        with self._changed:
            return self._changed.wait_for(
                lambda: predicate(self.status) or self.lost_reason is not None, timeout
            ) and predicate(self.status)


def _number(value: float | None) -> float:
    return float("nan") if value is None else value
