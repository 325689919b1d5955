"""One connected viewer, as the server sees it: its socket, what it sent so far, and its bounded
queue of lines to send. Any thread may push; only the server's thread pops and writes.

When the queue is full, the oldest droppable line (a metric update, a render frame) goes, and the
viewer is told how many it lost before its next line. Answers are never dropped: a viewer whose
queue holds nothing but answers it does not read is closed instead.
"""

from __future__ import annotations

import selectors
import socket
import threading
from collections import deque

from cockpit.remote.protocol import MAX_REQUEST, LineReader, encode

MAX_QUEUED = 64
"""Lines waiting for one viewer; past this the oldest update or frame is dropped."""
MAX_QUEUED_BYTES = 4 * 1024 * 1024


class Viewer:
    def __init__(self, sock: socket.socket, number: int):
        self.sock = sock
        self.number = number
        self.reader = LineReader(MAX_REQUEST)
        self.sending = memoryview(b"")  # the line being written (server thread only)
        self.subscribed = False
        self.closing: str | None = None  # why it is being closed
        self.renders: dict[int, threading.Event] = {}  # its running render's cancel flag
        self.mask = selectors.EVENT_READ
        self._lock = threading.Lock()
        self._queue: deque[tuple[bytes, bool]] = deque()  # (line, droppable)
        self._bytes = 0
        self.dropped = 0

    @property
    def waiting(self) -> bool:
        return bool(self._queue)

    def push(self, line: bytes, droppable: bool) -> None:
        with self._lock:
            if self.closing:
                return
            self._queue.append((line, droppable))
            self._bytes += len(line)
            while len(self._queue) > MAX_QUEUED or self._bytes > MAX_QUEUED_BYTES:
                index = next((i for i, (_, drop) in enumerate(self._queue) if drop), None)
                if index is None:  # only answers are waiting, and it reads none of them
                    self.closing = "too far behind"
                    return
                old, _ = self._queue[index]
                del self._queue[index]
                self._bytes -= len(old)
                self.dropped += 1

    def pop(self) -> bytes | None:
        """The next line to write (first, how many were dropped, if any); None when none waits."""
        with self._lock:
            if not self._queue:
                return None
            if self.dropped:
                line, self.dropped = encode({"dropped": self.dropped}), 0
                return line
            line, _ = self._queue.popleft()
            self._bytes -= len(line)
            return line

    def close(self, reason: str) -> None:
        with self._lock:
            self.closing = self.closing or reason
