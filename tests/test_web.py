"""Viewers of a run and what owns them: the web server ends the viewer process of a page that is
gone, and all of them when it stops; a run whose viewer slots are all taken says it is busy."""

from __future__ import annotations

import asyncio
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from live_run import wait_for_file
from tiny import tiny_config
from waiting import poll_until

from cockpit.commands import ctl
from cockpit.commands.ls import describe_run
from cockpit.engine.config import to_toml
from cockpit.engine.control import Control
from cockpit.engine.metrics import MetricsStore
from cockpit.remote import server as server_module
from cockpit.remote import web
from cockpit.remote.client import Busy, Connection
from cockpit.remote.server import ControlServer
from cockpit.ui.launch import create_attach_app

RECORDED = Path(__file__).parent / "fixtures" / "recorded_run"
WAIT_S = 30


def viewer_processes(run_dir: Path) -> set[int]:
    """Live `cockpit attach RUN_DIR` processes (the web server's viewers), whoever their parent is now."""
    wanted = ["-m", "cockpit", "attach", str(run_dir)]
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().decode().split("\0")[:-1]
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError):
            continue  # not a process, or gone meanwhile
        if argv[-4:] == wanted and state != "Z":
            found.add(int(entry.name))
    return found


async def first_frame(ws: aiohttp.ClientWebSocketResponse) -> None:
    while True:
        message = await asyncio.wait_for(ws.receive(), WAIT_S)
        assert message.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), message
        if message.type == aiohttp.WSMsgType.BINARY:
            return


async def test_the_web_server_ends_the_viewer_of_a_page_that_is_gone_and_all_of_them_when_it_stops(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(RECORDED, run_dir)
    log = tmp_path / "web.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "cockpit", "attach", str(run_dir), "--web"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        text = wait_for_file(log, lambda t: "?token=" in t, server)
        base, token = re.search(r"http(://127\.0\.0\.1:\d+)/\?token=(\S+)", text).groups()
        page = f"ws{base}/ws/{token}?width=160&height=48"
        async with aiohttp.ClientSession() as session:
            gone = await session.ws_connect(page)
            await first_frame(gone)
            await gone.close()  # the browser closed as the page loaded: the viewer's output has nowhere to go
            kept = await session.ws_connect(page)
            await first_frame(kept)
            poll_until(lambda: len(viewer_processes(run_dir)) == 1, "the gone page's viewer was not ended", WAIT_S)
            viewers = viewer_processes(run_dir)
            server.send_signal(signal.SIGTERM)
            assert server.wait(WAIT_S) == 0
            poll_until(lambda: not viewer_processes(run_dir) & viewers, "a viewer survived the server", WAIT_S)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


STUBBORN = (
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "sys.stdout.write('__GANGLION__\\n'); sys.stdout.flush(); time.sleep(600)"
)


async def stubborn_viewer(server):
    """The server's one viewer, once it ignores SIGTERM."""
    deadline = time.monotonic() + WAIT_S
    while not (server.viewers and ignores_sigterm(next(iter(server.viewers)).process)):
        assert time.monotonic() < deadline, "the stand-in never started"
        await asyncio.sleep(0.02)
    return next(iter(server.viewers))


def ignores_sigterm(process) -> bool:
    if process is None:
        return False
    status = Path(f"/proc/{process.pid}/status").read_text()
    ignored = int(re.search(r"SigIgn:\s*([0-9a-f]+)", status).group(1), 16)
    return bool(ignored & 1 << (signal.SIGTERM - 1))


async def test_a_viewer_that_ignores_sigterm_is_killed_with_its_page_and_with_the_server(tmp_path, monkeypatch):
    """A viewer blocked on its output hears neither textual-serve's quit nor SIGTERM: a stand-in that
    ignores both, in a server run in this process."""
    monkeypatch.setattr(web, "TERMINATE_S", 0.2)
    server = web.make_server(RECORDED, 0, "t0ken")
    server.command = shlex.join(["exec", sys.executable, "-c", STUBBORN])
    test_server = TestServer(await server._make_app(), host=web.HOST)
    await test_server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            page = f"ws://{web.HOST}:{test_server.port}/ws/t0ken"
            gone = await session.ws_connect(page)
            viewer = await stubborn_viewer(server)
            await gone.close()
            assert await asyncio.wait_for(viewer.process.wait(), WAIT_S) == -signal.SIGKILL
            kept = await session.ws_connect(page)
            viewer = await stubborn_viewer(server)
            await test_server.close()
            assert viewer.process.returncode == -signal.SIGKILL
            await kept.close()
    finally:
        await test_server.close()


def test_a_run_with_every_viewer_slot_taken_says_busy(tmp_path, monkeypatch, capsys):
    """`ctl` exits 1 saying busy (not 3, "no run listening"); `attach` opens the history and says why."""
    monkeypatch.setattr(server_module, "MAX_VIEWERS", 1)
    (tmp_path / "config.toml").write_text(to_toml(tiny_config()))
    server = ControlServer(tmp_path, tiny_config(), Control(), MetricsStore())
    server.start()
    try:
        viewer = Connection(server.path)
        with pytest.raises(Busy, match="^busy: all viewer slots taken"):
            Connection(server.path)
        assert ctl.main([str(tmp_path), "status"]) == ctl.EXIT_REFUSED
        assert "busy: all viewer slots taken" in capsys.readouterr().err
        app = create_attach_app(tmp_path)
        assert app.control is None and "busy: all viewer slots taken" in app.notice
        row = describe_run(tmp_path)
        assert (row["state"], row["attach"]) == ("busy", "busy") and row["reason"].startswith("busy: all viewer slots")
        viewer.close()
    finally:
        server.close()
