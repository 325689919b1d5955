"""The wire format: one JSON object per line, each carrying the protocol version `"v": 1`.

Plain JSON only (no pickle, no tensors): NaN and infinity travel as null, render frames as base64 of
zlib-compressed RGB bytes. A client's line may hold at most `MAX_REQUEST` bytes; a longer one is
answered with an error and skipped. The full description is docs/remote-protocol.md.
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from typing import Any

VERSION = 1
MAX_REQUEST = 64 * 1024
"""Bytes in one line a client sends (requests are a few hundred bytes)."""
MAX_MESSAGE = 8 * 1024 * 1024
"""Bytes in one line a client accepts from the server (an update after a long gap can be large)."""
REQUESTS = ("cmd", "status", "subscribe", "render", "cancel")
"""What a request asks for: exactly one of these keys, beside "v" and "id"."""
FRAME_MAX = (160, 100)
"""Render frames are downscaled to fit this many pixels (width, height) before they are sent."""


class ProtocolError(ValueError):
    """A message that breaks the protocol: not JSON, another version, an unknown request."""


def _plain(value: Any) -> Any:
    """JSON-safe: non-finite floats become null, numpy scalars and tuples plain values."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if hasattr(value, "item"):  # numpy scalar
        return _plain(value.item())
    raise ProtocolError(f"{type(value).__name__} is not plain data")


def encode(message: dict) -> bytes:
    """One line: the message with the protocol version, as compact JSON and a newline."""
    return (json.dumps(_plain({"v": VERSION, **message}), separators=(",", ":"), allow_nan=False) + "\n").encode()


def parse_line(line: bytes) -> dict:
    """A received line as a JSON object; ProtocolError when it is not one."""
    try:
        message = json.loads(line)
    except (UnicodeDecodeError, ValueError) as e:
        raise ProtocolError(f"not a JSON line ({e})") from None
    if not isinstance(message, dict):
        raise ProtocolError("expected a JSON object")
    return message


def check_version(message: dict) -> dict:
    if message.get("v") != VERSION:
        raise ProtocolError(
            f'protocol version {message.get("v")!r}: this run speaks version {VERSION} ("v": {VERSION})'
        )
    return message


def decode(line: bytes) -> dict:
    """A received line as a message; ProtocolError when it is not a JSON object of this version."""
    return check_version(parse_line(line))


def parse_request(message: dict) -> tuple[int, str, Any]:
    """(id, what, body) of a client's request; ProtocolError when it is not one."""
    rid = message.get("id")
    if not isinstance(rid, int) or isinstance(rid, bool):
        raise ProtocolError('expected an integer "id" to answer to')
    asked = [k for k in REQUESTS if k in message]
    unknown = set(message) - {"v", "id", *REQUESTS}
    if len(asked) != 1 or unknown:
        raise ProtocolError(f'expected exactly one of {", ".join(REQUESTS)} beside "v" and "id"')
    return rid, asked[0], message[asked[0]]


class LineReader:
    """Splits a byte stream into lines of at most `limit` bytes; a longer line is skipped whole and
    reported once as None, so a reader never buffers more than `limit` bytes of it."""

    def __init__(self, limit: int):
        self.limit = limit
        self.buffer = bytearray()
        self.scanned = 0  # bytes of the buffer already searched for a newline
        self.skipping = False

    def feed(self, data: bytes) -> list[bytes | None]:
        self.buffer += data
        lines: list[bytes | None] = []
        while True:
            end = self.buffer.find(b"\n", self.scanned)
            if end < 0:
                self.scanned = len(self.buffer)
                if len(self.buffer) > self.limit:
                    if not self.skipping:
                        lines.append(None)
                    self.skipping = True
                    self.buffer.clear()
                    self.scanned = 0
                return lines
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 1]
            self.scanned = 0
            if self.skipping:
                self.skipping = False
            elif len(line) > self.limit:
                lines.append(None)
            elif line.strip():
                lines.append(line)


def encode_frame(frame) -> dict:
    """An RGB frame, nearest-neighbour downscaled to fit FRAME_MAX, as {width, height, rgb}."""
    import numpy as np

    height, width = frame.shape[:2]
    scale = min(1.0, FRAME_MAX[0] / width, FRAME_MAX[1] / height)
    new_w, new_h = max(1, int(width * scale)), max(1, int(height * scale))
    ys = (np.arange(new_h) * height / new_h).astype(int)
    xs = (np.arange(new_w) * width / new_w).astype(int)
    small = np.ascontiguousarray(np.asarray(frame)[ys][:, xs, :3], dtype=np.uint8)
    return {"width": new_w, "height": new_h, "rgb": base64.b64encode(zlib.compress(small.tobytes(), 1)).decode("ascii")}


def decode_frame(data: dict):
    """The frame `encode_frame` sent, as a (height, width, 3) uint8 array."""
    import numpy as np

    raw = zlib.decompress(base64.b64decode(data["rgb"]))
    return np.frombuffer(raw, dtype=np.uint8).reshape(data["height"], data["width"], 3)
