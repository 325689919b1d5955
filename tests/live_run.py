"""A headless run in a subprocess, listening for control, for the tests of `attach`, `ctl` and the socket."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tiny import write_tiny_preset

from cockpit.remote.protocol import LineReader, decode, encode

LONG = {"total_steps": 1_000_000, "eval_freq": 500}
START_TIMEOUT_S = 60.0
TRAINING = (
    "running",
    "evaluating",
    "loading",
)  # a live run evaluates every 500 steps and loads torch after its warm-up; all mean "not paused"


def cockpit(*args, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cockpit", *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


def wait_for_file(
    path: Path, ready=lambda text: True, proc: subprocess.Popen | None = None, timeout: float = START_TIMEOUT_S
) -> str:
    """A file's text once it exists and `ready(text)` holds (polled: a file appearing sends no signal)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run exited with {proc.returncode} before {path.name} was ready")
        try:
            text = path.read_text()
            if ready(text):
                return text
        except (FileNotFoundError, ValueError):
            pass  # not there yet, or mid-write
        time.sleep(0.05)
    raise AssertionError(f"{path} not ready within {timeout} s")


class LiveRun:
    """`cockpit PRESET --no-ui --run-dir DIR` on a tiny preset, long enough never to end by itself."""

    def __init__(self, root: Path, name: str = "run", resume: bool = False):
        self.root = root
        self.run_dir = root / name
        self.log = root / f"{name}.log"
        if resume:
            args = ["--resume", self.run_dir, "--no-ui"]
        else:
            args = [write_tiny_preset(root / f"{name}.toml", run=LONG), "--no-ui", "--run-dir", self.run_dir]
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cockpit", *map(str, args)], stdout=out, stderr=subprocess.STDOUT, cwd=root
            )
        text = wait_for_file(self.run_dir / "control.json", lambda t: json.loads(t)["pid"] == self.proc.pid, self.proc)
        self.socket = Path(json.loads(text)["socket"])
        started = '"kind": "resumed"' if resume else '"kind": "start"'
        wait_for_file(self.run_dir / "events.jsonl", lambda t: started in t, self.proc)

    def events(self) -> list[dict]:
        return [
            json.loads(line) for line in (self.run_dir / "events.jsonl").read_text().splitlines() if line.endswith("}")
        ]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def __enter__(self) -> LiveRun:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class RawClient:
    """The socket with nothing on top: bytes out, decoded lines in, for malformed input and stalled readers."""

    def __init__(self, path: Path, timeout: float = 10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.reader = LineReader(64 * 1024 * 1024)
        self.lines: list[bytes] = []
        self.hello = self.receive()["hello"]

    def send(self, data: bytes | dict) -> None:
        self.sock.sendall(data if isinstance(data, bytes) else encode(data))

    def receive(self) -> dict:
        while not self.lines:
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError("the server closed the connection")
            self.lines += [line for line in self.reader.feed(data) if line is not None]
        return decode(self.lines.pop(0))

    def answer(self, rid: int | None) -> dict:
        """The next message answering `rid` (updates and others in between are skipped)."""
        while True:
            message = self.receive()
            if "id" in message and message["id"] == rid:
                return message

    def close(self) -> None:
        self.sock.close()
