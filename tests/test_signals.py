"""Signals mean the same in every mode: SIGINT, SIGTERM and SIGHUP stop a run gracefully (the end of
its episode, a checkpoint, the summary) and exit 128 + the signal, with the terminal restored; ctrl+c
is SIGINT; a terminal that hangs up (a dropped SSH connection) loses nothing; an attached viewer
detaches on a signal and the run goes on."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest
from live_run import LONG, LiveRun, RawClient, wait_for_file
from tiny import tiny_config, write_tiny_preset
from waiting import poll_until

from cockpit.ui.launch import create_app

EXIT_S = 60
ENTER_ALT_SCREEN, LEAVE_ALT_SCREEN = b"\x1b[?1049h", b"\x1b[?1049l"


class Terminal:
    """`cockpit ARGS` on a pseudo-terminal of 120x36, its output read as it comes (a full pty would
    block the app's writes)."""

    def __init__(self, args: list, cwd: Path):
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cockpit", *map(str, args)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            start_new_session=True,
            env={**os.environ, "TERM": "xterm-256color"},
        )
        os.close(slave)
        self.output = bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 1 << 16)
            except OSError:  # EIO: every process holding the terminal has exited
                return
            if not data:
                return
            self.output += data

    def wait_for(self, text: bytes) -> None:
        poll_until(lambda: text in self.output or self.proc.poll() is not None, f"{text!r} never shown", EXIT_S)
        assert text in self.output, f"{text!r} never shown: the app exited with {self.proc.returncode}"

    def hang_up(self) -> None:
        """What a dropped SSH connection does to the terminal: its other end closes."""
        os.close(self.master)
        self.reader.join(EXIT_S)
        self.master = None

    def wait(self) -> int:
        code = self.proc.wait(EXIT_S)
        self.reader.join(EXIT_S)
        return code

    def restored(self) -> bool:
        """The app left the alternate screen after it last entered it."""
        return self.output.rfind(LEAVE_ALT_SCREEN) > self.output.rfind(ENTER_ALT_SCREEN) >= 0

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.master is not None:
            os.close(self.master)


def stop_checkpoint(run_dir: Path) -> dict:
    latest = (run_dir / "checkpoints" / "latest").read_text().strip()
    return json.loads((run_dir / "checkpoints" / latest / "meta.json").read_text())


def stop_sources(run_dir: Path) -> list[str]:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    return [e["source"] for e in events if e["kind"] == "stop"]


def started(text: str) -> bool:
    return '"kind": "start"' in text


@pytest.mark.parametrize(
    "signum, hang_up",
    [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGHUP, True)],
    ids=["SIGINT", "SIGTERM", "SIGHUP-after-hangup"],
)
def test_the_ui_stops_the_run_gracefully_on_a_signal(tmp_path, signum, hang_up):
    """SIGHUP comes after the terminal has hung up, as when an SSH connection drops: nothing can be
    written there any more, and the run must still be stopped, saved and the process gone."""
    run_dir = tmp_path / "run"
    with Terminal([write_tiny_preset(tmp_path / "tiny.toml", run=LONG), "--run-dir", run_dir], tmp_path) as term:
        wait_for_file(run_dir / "events.jsonl", started, term.proc)
        if hang_up:
            term.hang_up()
        term.proc.send_signal(signum)
        assert term.wait() == 128 + signum
        if not hang_up:
            assert term.restored()
            assert term.output.rstrip().endswith(f"cockpit: run stopped · {run_dir}".encode())
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "stopped"
    checkpoint = stop_checkpoint(run_dir)
    assert checkpoint["kind"] == "stop" and checkpoint["exact"]
    assert stop_sources(run_dir) == [signal.Signals(signum).name]


async def test_ctrl_c_is_sigint_a_graceful_stop_not_a_hint(tmp_path):
    app = create_app(tiny_config(run=LONG), tmp_path / "run", refresh_s=0.2)
    async with app.run_test(size=(160, 48)) as pilot:
        await app.trainer_started.wait()
        await pilot.press("ctrl+c")
        assert app.signals == [signal.SIGINT]
        await app.trainer_worker.wait()
        await pilot.pause()
    assert app.summary["status"] == "stopped"
    checkpoint = stop_checkpoint(tmp_path / "run")
    assert checkpoint["kind"] == "stop" and checkpoint["exact"]
    assert stop_sources(tmp_path / "run") == ["SIGINT"]


def viewers(client: RawClient) -> int:
    client.send({"id": 1, "status": True})
    return client.answer(1)["reply"]["viewers"]


def wait_for_viewers(client: RawClient, count: int) -> None:
    poll_until(lambda: viewers(client) == count, f"never {count} viewers", EXIT_S)


def test_attach_detaches_on_sigterm_and_headless_stops_on_sighup(tmp_path):
    with LiveRun(tmp_path) as run:
        client = RawClient(run.socket)
        with Terminal(["attach", run.run_dir], tmp_path) as term:
            wait_for_viewers(client, 2)  # this client and the attached cockpit
            term.wait_for(b"q detaches")  # on screen: the app is mounted and handles signals
            term.proc.send_signal(signal.SIGTERM)
            assert term.wait() == 128 + signal.SIGTERM
            assert term.restored()
        wait_for_viewers(client, 1)
        assert run.proc.poll() is None
        client.close()
        run.proc.send_signal(signal.SIGHUP)
        assert run.proc.wait(EXIT_S) == 128 + signal.SIGHUP
    assert json.loads((run.run_dir / "summary.json").read_text())["status"] == "stopped"
    checkpoint = stop_checkpoint(run.run_dir)
    assert checkpoint["kind"] == "stop" and checkpoint["exact"]
    assert stop_sources(run.run_dir) == ["SIGHUP"]
