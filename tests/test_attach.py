"""`cockpit attach` driven with the Pilot against a real headless run in a subprocess (every key acts
on it; q detaches, S stops it), read-only on an ended or dead run, and served to a browser with --web."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from live_run import LiveRun, wait_for_file

from cockpit.ui.app import CockpitApp
from cockpit.ui.launch import create_attach_app
from cockpit.ui.screens.confirm import Confirm
from cockpit.ui.screens.hparam_dialog import HyperparameterDialog
from cockpit.ui.widgets.render_panel import RenderPanel

RECORDED = Path(__file__).parent / "fixtures" / "recorded_run"
ANSWER_S = 30


@pytest.fixture
def live(tmp_path):
    """A run of the test's own: each test steers, serves or stops it."""
    with LiveRun(tmp_path) as run:
        yield run


def attached(run_dir: Path) -> CockpitApp:
    """The app `cockpit attach` builds, recording every command's Future to wait on explicitly."""
    app = create_attach_app(run_dir, refresh_s=0.2)
    app.replies = []
    if app.control is not None:
        for name in ("submit", "policy"):
            setattr(app.control, name, recording(app, getattr(app.control, name)))
    return app


def recording(app: CockpitApp, send):
    def recorded(*args, **kwargs):
        app.replies.append(future := send(*args, **kwargs))
        return future

    return recorded


async def answered(app: CockpitApp, pilot) -> dict:
    reply = await asyncio.wait_for(asyncio.wrap_future(app.replies[-1]), ANSWER_S)
    await pilot.pause()
    return reply.to_dict()


async def shown(app: CockpitApp, pilot, predicate) -> None:
    """Wait until the run's status, as the viewer got it, satisfies `predicate`; then redraw."""
    assert await asyncio.to_thread(app.store.wait_for, predicate, ANSWER_S), app.store.status.state
    app.refresh_view()
    await pilot.pause()


def status_text(app: CockpitApp) -> str:
    return str(app.status_strip.render())


def events_text(app: CockpitApp) -> str:
    return "".join(line.text for line in app.events_pane.lines)


def footer_keys(app: CockpitApp) -> set[str]:
    return {active.binding.description for active in app.screen.active_bindings.values() if active.binding.show}


async def test_every_key_acts_on_the_running_trainer_and_q_detaches(live):
    app = attached(live.run_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        assert "attached to the run" in events_text(app) and "attached" in status_text(app)
        assert {"Detach", "Stop run"} <= footer_keys(app) and "Quit" not in footer_keys(app)
        assert app.store.series["rollout/epsilon"].steps  # history, then live

        await pilot.press("space")
        assert (await answered(app, pilot))["state"] == "paused"
        await shown(app, pilot, lambda s: s.state == "paused")
        assert "PAUSED" in status_text(app)

        await pilot.press("e")
        evaluation = await answered(app, pilot)
        assert evaluation["ok"] and len(evaluation["returns"]) == 2
        await shown(
            app,
            pilot,
            lambda s: s.last_eval is not None and s.last_eval.step == evaluation["step"] and not s.last_eval.scheduled,
        )
        assert f"eval*   {evaluation['mean']:.1f} ± {evaluation['std']:.1f}" in events_text(app)

        await pilot.press("h")
        dialog = app.screen
        assert isinstance(dialog, HyperparameterDialog)
        await pilot.press("enter")  # learning_rate
        dialog.query_one("#value").value = "-1"
        await pilot.press("enter")
        assert "expected a number in (0, 10]" in str(dialog.query_one("#message").render()) and app.screen is dialog
        dialog.query_one("#value").value = "5e-4"
        await pilot.press("enter")
        assert (await answered(app, pilot))["new"] == 5e-4
        await shown(app, pilot, lambda s: s.hyperparameters["learning_rate"] == 5e-4)
        assert "lr 0.0005" in status_text(app) and "learning_rate 0.001 → 0.0005" in events_text(app)

        await pilot.press("space")
        await shown(app, pilot, lambda s: s.state == "running")
        await pilot.press("c")
        checkpoint = await answered(app, pilot)
        assert checkpoint["ok"] and Path(live.root, checkpoint["path"]).is_dir()

        await pilot.press("r")  # played in the trainer's process; frames stream here
        assert app.query_one(RenderPanel).is_open
        policy = await answered(app, pilot)
        assert policy["ok"] and policy["step"] > 0
        await app.render_worker.wait()
        await pilot.pause()
        assert "episode over" in str(app.query_one("#caption").render())
        assert "▀" in str(app.query_one("#frame").render())
        assert list((live.run_dir / "renders").glob("*.gif"))
        await pilot.press("escape")

        await pilot.press("q")
        await pilot.pause()
    assert live.proc.poll() is None  # detached: the run goes on
    mine = [(e["kind"], e["source"]) for e in live.events() if e.get("source") == "attach"]
    assert mine == [("pause", "attach"), ("hparam", "attach"), ("resume", "attach"), ("checkpoint_requested", "attach")]


async def test_a_finished_run_opens_read_only_and_says_so(tmp_path):
    shutil.copytree(RECORDED, tmp_path / "old")
    app = attached(tmp_path / "old")
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert "read-only: the run has ended: finished at step 6,000" in events_text(app)
        assert "read-only" in status_text(app) and "FINISHED" in status_text(app)
        assert app.control is None and not app.steerable
        await pilot.press("e")  # says so; nothing to send it to
        await pilot.press("q")
    assert app.return_code == 0


async def test_a_dead_run_opens_read_only_and_says_so(tmp_path):
    dead = tmp_path / "dead"
    shutil.copytree(RECORDED, dead)
    (dead / "summary.json").unlink()
    (dead / "control.json").write_text(
        json.dumps({"socket": str(tmp_path / "gone.sock"), "pid": 999999999, "protocol": 1})
    )
    app = attached(dead)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert "read-only: the run is dead: process 999999999 is gone" in events_text(app)
        assert "DEAD" in status_text(app)


async def test_the_web_cockpit_needs_the_token_and_serves_the_app(live, tmp_path):
    log = tmp_path / "web.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "cockpit", "attach", str(live.run_dir), "--web"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        text = wait_for_file(log, lambda t: "?token=" in t, server)
        base, token = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=(\S+)", text).groups()
        async with aiohttp.ClientSession() as session:
            for refused in (f"{base}/", f"{base}/?token=wrong", f"{base}/ws/wrong", f"{base}/ws"):
                async with session.get(refused) as response:
                    assert response.status == 403, refused
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await session.ws_connect(f"{base.replace('http', 'ws')}/ws/wrong")
            async with session.get(f"{base}/?token={token}") as response:
                assert response.status == 200 and f"/ws/{token}" in await response.text()
            async with session.ws_connect(f"{base.replace('http', 'ws')}/ws/{token}?width=160&height=48") as ws:
                screen = ""
                while not (("RUNNING" in screen or "EVALUATING" in screen) and "seed 7 · attached" in screen):
                    message = await asyncio.wait_for(ws.receive(), ANSWER_S)
                    assert message.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), message
                    if message.type == aiohttp.WSMsgType.BINARY:
                        screen += message.data.decode("utf-8", "replace")
    finally:
        server.terminate()
        server.wait(ANSWER_S)


async def test_S_asks_then_stops_the_run_gracefully(live):
    app = attached(live.run_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("S")
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        assert (await answered(app, pilot))["ok"]
        await shown(app, pilot, lambda s: s.state == "stopped")
        assert "STOPPED" in status_text(app)
        await pilot.press("q")
    assert live.proc.wait(ANSWER_S) == 0
    assert json.loads((live.run_dir / "summary.json").read_text())["status"] == "stopped"
    assert not (live.run_dir / "control.json").exists()
