"""The control server: a thread in the training process answering viewers on a Unix socket.

Only the run's owner can connect: the socket (0600) lies in a per-user directory (0700) under
$XDG_RUNTIME_DIR or /tmp, named by a hash of the run directory (socket paths are limited to about
107 bytes); the run directory holds a pointer to it, `control.json`. Both go when the run ends.

One thread does all the socket work with non-blocking reads and writes (`selectors`), so no viewer
can block it, let alone the trainer. Commands go through the run's `Control` (the same
one-change-at-a-time rule as every front end); replies come back from the trainer thread as
callbacks that only append to a queue. While anyone is subscribed, the store is read every
`POLL_S` and what changed is sent as one update to all. Each viewer's queue is bounded: when it is
full the oldest metric updates and render frames are dropped (the viewer is told how many), never
waited for. Renders run here, in a thread of their own, from a copy of the trainer's weights.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import selectors
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cockpit.engine.control import Command, CommandKind, Control, reply
from cockpit.engine.files import write_json_atomic
from cockpit.engine.metrics import MetricsStore, Snapshot
from cockpit.remote.protocol import (
    MAX_REQUEST,
    VERSION,
    ProtocolError,
    check_version,
    encode,
    encode_frame,
    parse_line,
    parse_request,
)
from cockpit.remote.updates import Marks, backfill, delta
from cockpit.remote.viewer import Viewer

if TYPE_CHECKING:
    from cockpit.engine.config import Config

POINTER = "control.json"
"""In the run directory while the run listens: {"socket", "pid", "protocol"}."""
POLL_S = 0.25
"""How often the store is read for subscribers (nothing is read while none is subscribed)."""
MAX_VIEWERS = 32
SEND_BUFFER = 64 * 1024
"""The kernel's send buffer per viewer, kept small so stale data waits in our queue, where it can be dropped."""
FRAME_S = 1 / 30
"""Render frames are streamed at about 30 per second, as the in-process cockpit plays them."""
FLUSH_S = 1.0
"""At the end, how long the last update may take to reach the viewers before they are cut off."""
MAX_SOURCE = 40


class ServerError(Exception):
    """Cannot listen (the runtime directory is unsafe, the socket is taken): the run goes on without."""


def runtime_dir() -> Path:
    """The per-user directory for sockets, created 0700; refused if another user owns it."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base) and os.access(base, os.W_OK) and len(base) < 60:
        path = Path(base) / "cockpit"
    else:
        path = Path("/tmp") / f"cockpit-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError as e:
        raise ServerError(f"{path}: cannot create the socket directory ({e.strerror})") from None
    if not os.path.isdir(path) or os.path.islink(path):
        raise ServerError(f"{path}: not a directory")
    if info.st_uid != os.getuid():
        raise ServerError(f"{path}: owned by uid {info.st_uid}, not by this user")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def socket_path(run_dir: Path) -> Path:
    digest = hashlib.sha256(str(Path(run_dir).resolve()).encode()).hexdigest()[:16]
    return runtime_dir() / f"{digest}.sock"


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


class ControlServer:
    def __init__(
        self,
        run_dir: Path,
        config: Config,
        control: Control,
        store: MetricsStore,
        report=lambda line: print(line, file=sys.stderr),
        on_watchers=None,
    ):
        """`report(line)` tells the operator when listening stopped on an unexpected error;
        `on_watchers(n)` hears how many viewers are subscribed whenever that changes."""
        self.run_dir = Path(run_dir)
        self.config = config
        self.control = control
        self.store = store
        self.report = report
        self.on_watchers = on_watchers
        self.path: Path | None = None
        self._render_lock = threading.Lock()
        self._viewers: set[Viewer] = set()
        self._numbers = itertools.count(1)
        self._marks = Marks()
        self._version = -1
        self._baseline: Snapshot | None = None
        self._poll_due = 0.0
        self._rendering = False
        self._renders = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------- lifetime
    def start(self) -> Path:
        """Listen (removing a stale socket a killed run left) and write the pointer; ServerError if not."""
        path = socket_path(self.run_dir)
        if len(str(path).encode()) > 100:
            raise ServerError(f"{path}: too long for a Unix socket path")
        if os.path.lexists(path):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(path))
            except OSError:
                os.unlink(path)  # stale: its process is gone (the run directory's lock is ours)
            else:
                raise ServerError(f"{path}: another process listens there")
            finally:
                probe.close()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(path))
            os.chmod(path, 0o600)
            listener.listen(16)
        except OSError as e:
            listener.close()
            raise ServerError(f"{path}: cannot listen ({e.strerror})") from None
        listener.setblocking(False)
        self.path, self._listener = path, listener
        self._waker, self._wake_w = socket.socketpair()
        self._waker.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ, "listener")
        self._selector.register(self._waker, selectors.EVENT_READ, "waker")
        try:
            write_json_atomic(self.run_dir / POINTER, {"socket": str(path), "pid": os.getpid(), "protocol": VERSION})
        except OSError as e:
            self._cleanup()
            raise ServerError(f"{self.run_dir / POINTER}: cannot write the pointer ({e.strerror})") from None
        self._thread = threading.Thread(target=self._run, name="cockpit-control", daemon=True)
        self._thread.start()
        return path

    def close(self) -> None:
        """Send the last update, disconnect everyone, remove the socket and the pointer."""
        if self._thread is None:
            return
        self._stopping = True
        self._wake()
        self._thread.join(FLUSH_S + 5)
        self._thread = None

    def _cleanup(self) -> None:
        for viewer in list(self._viewers):
            self._drop(viewer)
        self._selector.close()
        self._listener.close()
        self._waker.close()
        self._wake_w.close()
        for path in (self.path, self.run_dir / POINTER):
            try:
                if path is not None:
                    os.unlink(path)
            except FileNotFoundError:
                pass

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # a wake-up is pending already, or the server has closed

    # ------------------------------------------------------------- the loop
    def _run(self) -> None:
        try:
            while not self._stopping:
                subscribed = any(v.subscribed for v in self._viewers)
                timeout = max(0.0, self._poll_due - time.monotonic()) if subscribed else None
                for key, mask in self._selector.select(timeout):
                    if key.data == "listener":
                        self._accept()
                    elif key.data == "waker":
                        self._drain_waker()
                    else:
                        if mask & selectors.EVENT_READ:
                            self._read(key.data)
                if subscribed and time.monotonic() >= self._poll_due:
                    self._poll()
                    self._poll_due = time.monotonic() + POLL_S
                self._service()
            self._poll()
            deadline = time.monotonic() + FLUSH_S
            while any(v.sending or v.waiting for v in self._viewers) and time.monotonic() < deadline:
                self._selector.select(0.05)
                self._service()
        except Exception as e:  # never the trainer's problem: stop listening and say why
            self.report(f"cockpit: stopped listening for control: {type(e).__name__}: {e}")
        finally:
            self._cleanup()

    def _drain_waker(self) -> None:
        try:
            while self._waker.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _service(self) -> None:
        """Write what each viewer's socket takes now; close the ones that left or fell too far behind."""
        for viewer in list(self._viewers):
            if not viewer.closing:
                self._flush(viewer)
            if viewer.closing:
                self._drop(viewer)
                continue
            mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if viewer.sending or viewer.waiting else 0)
            if mask != viewer.mask:
                self._selector.modify(viewer.sock, mask, viewer)
                viewer.mask = mask

    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except BlockingIOError:
            return
        if peer_uid(sock) not in (os.getuid(), 0):
            sock.close()
            return
        if len(self._viewers) >= MAX_VIEWERS:
            self._refuse(sock)
            return
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        viewer = Viewer(sock, next(self._numbers))
        self._viewers.add(viewer)
        self._selector.register(sock, viewer.mask, viewer)
        self._send(viewer, {"hello": {"protocol": VERSION, "pid": os.getpid(), "run_dir": str(self.run_dir.resolve())}})

    def _refuse(self, sock: socket.socket) -> None:
        """Say why in place of the greeting, so the client can tell a full run from a dead one."""
        sock.setblocking(False)
        try:
            sock.send(
                encode(
                    {
                        "refused": {
                            "reason": "busy",
                            "max_viewers": MAX_VIEWERS,
                            "message": f"busy: all viewer slots taken ({MAX_VIEWERS} connected)",
                        }
                    }
                )
            )
        except OSError:
            pass  # the client has gone already: nobody to tell
        sock.close()

    def _drop(self, viewer: Viewer) -> None:
        viewer.close("closed")
        for cancel in list(viewer.renders.values()):
            cancel.set()
        if viewer in self._viewers:
            self._viewers.discard(viewer)
            self._selector.unregister(viewer.sock)
            if viewer.subscribed:
                self._watchers_changed()
        viewer.sock.close()

    def _watchers_changed(self) -> None:
        if self.on_watchers is not None:
            self.on_watchers(sum(1 for v in self._viewers if v.subscribed))

    def _read(self, viewer: Viewer) -> None:
        try:
            data = viewer.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # gone, perhaps mid-line: the partial line is dropped unread
            viewer.close("disconnected")
            return
        for line in viewer.reader.feed(data):
            if line is None:
                self._send(viewer, {"id": None, "error": f"message over {MAX_REQUEST} bytes: skipped, nothing done"})
            else:
                self._handle(viewer, line)

    def _flush(self, viewer: Viewer) -> None:
        while True:
            if not viewer.sending:
                data = viewer.pop()
                if data is None:
                    return
                viewer.sending = memoryview(data)
            try:
                sent = viewer.sock.send(viewer.sending)
            except BlockingIOError:
                return
            except OSError:
                viewer.close("disconnected")
                return
            viewer.sending = viewer.sending[sent:]

    # --------------------------------------------------------- sending (any thread)
    def _send(self, viewer: Viewer, message: dict, droppable: bool = False) -> None:
        try:
            data = encode(message)
        except ProtocolError as e:
            data = encode({"id": message.get("id"), "error": f"the answer is not plain data ({e})"})
        self._queue(viewer, data, droppable)

    def _queue(self, viewer: Viewer, data: bytes, droppable: bool) -> None:
        viewer.push(data, droppable)
        self._wake()

    # ------------------------------------------------------------- requests
    def _handle(self, viewer: Viewer, line: bytes) -> None:
        rid = None
        try:
            message = parse_line(line)
            rid = message.get("id") if isinstance(message.get("id"), int) else None
            check_version(message)
            rid, what, body = parse_request(message)
            getattr(self, f"_on_{what}")(viewer, rid, body)
        except ProtocolError as e:
            self._send(viewer, {"id": rid, "error": str(e)})

    def _source(self, body: dict, default: str) -> str:
        source = body.get("source", default)
        if not isinstance(source, str) or not source or len(source) > MAX_SOURCE:
            raise ProtocolError(f'source {source!r}: expected a short name (e.g. "ctl")')
        return source

    def _on_cmd(self, viewer: Viewer, rid: int, body: Any) -> None:
        if not isinstance(body, dict):
            raise ProtocolError('cmd: expected an object, e.g. {"kind": "pause"}')
        try:
            command = Command.from_dict({**body, "source": self._source(body, "remote")})
        except (TypeError, ValueError) as e:
            raise ProtocolError(str(e)) from None
        if command.kind == CommandKind.POLICY:
            raise ProtocolError("cmd policy: weights do not travel on the wire; ask for a render instead")
        try:
            future = self.control.submit(command)
        except TypeError as e:  # a value of a type no check expected: refused like a bad one
            self._send(
                viewer, {"id": rid, "reply": reply(False, error=f"{command.key} = {command.value!r}: {e}").to_dict()}
            )
            return
        future.add_done_callback(lambda f: self._send(viewer, {"id": rid, "reply": f.result().to_dict()}))

    def _on_status(self, viewer: Viewer, rid: int, body: Any) -> None:
        status = self.store.current().status.to_dict()  # "created" while the trainer has not begun
        self._send(
            viewer,
            {"id": rid, "reply": reply(True, status=status, viewers=len(self._viewers), pid=os.getpid()).to_dict()},
        )

    def _on_subscribe(self, viewer: Viewer, rid: int, body: Any) -> None:
        body = body if isinstance(body, dict) else {}
        since_step, since_time = body.get("since_step", -1), body.get("since_time")
        if not isinstance(since_step, (int, float)) or not isinstance(since_time, (int, float, type(None))):
            raise ProtocolError("subscribe: since_step and since_time must be numbers")
        if viewer.subscribed:
            raise ProtocolError("subscribe: already subscribed")
        self._poll()  # the others get what changed up to now, and the baseline is now
        self._send(viewer, {"update": backfill(self._baseline or self.store.current(), since_step, since_time)})
        self._send(
            viewer, {"id": rid, "reply": reply(True, version=self._version).to_dict()}
        )  # after: the state is there
        if not any(v.subscribed for v in self._viewers):
            self._poll_due = time.monotonic() + POLL_S
        viewer.subscribed = True
        self._watchers_changed()

    def _on_cancel(self, viewer: Viewer, rid: int, body: Any) -> None:
        cancel = viewer.renders.get(body) if isinstance(body, int) else None
        if cancel is not None:
            cancel.set()
        self._send(viewer, {"id": rid, "reply": reply(cancel is not None).to_dict()})

    def _on_render(self, viewer: Viewer, rid: int, body: Any) -> None:
        source = self._source(body if isinstance(body, dict) else {}, "remote")
        with self._render_lock:
            busy, self._rendering = self._rendering, True
        if busy:
            self._send(
                viewer,
                {
                    "id": rid,
                    "reply": reply(False, error="a render is running already (one at a time per run)").to_dict(),
                },
            )
            return
        cancel = threading.Event()
        viewer.renders[rid] = cancel

        def weights_taken(future) -> None:  # in the trainer thread: only start a thread
            answer = future.result()
            if not answer.ok:
                self._end_render(viewer, rid)
                self._send(viewer, {"id": rid, "reply": answer.to_dict()})
                return
            policy = dict(answer.data)
            threading.Thread(
                target=self._render, args=(viewer, rid, policy, cancel), name="cockpit-render", daemon=True
            ).start()

        self.control.submit(Command(CommandKind.POLICY, source=source)).add_done_callback(weights_taken)

    def _end_render(self, viewer: Viewer, rid: int) -> None:
        viewer.renders.pop(rid, None)
        with self._render_lock:
            self._rendering = False

    def _render(self, viewer: Viewer, rid: int, policy: dict, cancel: threading.Event) -> None:
        """Play one greedy episode here, from the weights the trainer handed out, streaming its frames."""
        from cockpit.engine import seeding

        def frame(shown) -> dict:
            return {
                "render": rid,
                "frame": {
                    **encode_frame(shown.frame),
                    "step": shown.step,
                    "action": shown.action,
                    "reward": shown.reward,
                    "return": shown.episode_return,
                    "done": shown.done,
                },
            }

        self._renders += 1
        episode, started, last = None, False, None
        try:
            from cockpit.engine.rendering import play_greedy

            episode = play_greedy(
                self.config, policy, seeding.derive(self.config.run.seed, seeding.RENDER, self._renders)
            )
            last = next(episode)
            self._send(viewer, {"id": rid, "reply": reply(True, step=policy["step"], render=rid).to_dict()})
            started = True
            self._send(viewer, frame(last))
            for shown in episode:
                if cancel.wait(FRAME_S) or viewer.closing:
                    break
                self._send(viewer, frame(shown), droppable=not shown.done)
                last = shown
            end = reply(True, steps=last.step, episode_return=last.episode_return, cancelled=cancel.is_set())
        except Exception as e:  # no renderer, a broken env: the viewer is told
            end = reply(False, error=f"render failed: {type(e).__name__}: {e}")
        finally:
            if episode is not None:
                episode.close()
            self._end_render(viewer, rid)
        self._send(viewer, {"render": rid, "end": end.to_dict()} if started else {"id": rid, "reply": end.to_dict()})

    # ------------------------------------------------------------- updates
    def _poll(self) -> None:
        snap = self.store.snapshot(self._version)
        if snap is None:
            return
        update = delta(snap, self._marks)
        self._baseline, self._version = snap, snap.version
        subscribers = [v for v in self._viewers if v.subscribed]
        if subscribers:
            data = encode({"update": update})
            for viewer in subscribers:
                self._queue(viewer, data, droppable=True)
