"""The cockpit driven with the Pilot against a real trainer on a tiny preset: every key and the
dialog, quitting while training, a trainer failure; layouts as snapshots of a recorded history."""

from __future__ import annotations

import asyncio
import html
import json
import re
import threading
from pathlib import Path

import gymnasium as gym
import pytest
from tiny import tiny_config
from waiting import until

from cockpit.engine.contract import Event, RunState, RunStatus
from cockpit.engine.control import Control
from cockpit.engine.history import load_history
from cockpit.engine.metrics import MetricsStore
from cockpit.ui.app import CockpitApp
from cockpit.ui.launch import create_app
from cockpit.ui.screens.confirm import Confirm
from cockpit.ui.screens.help import HelpScreen
from cockpit.ui.screens.hparam_dialog import HyperparameterDialog
from cockpit.ui.widgets.metric_chart import MetricChart
from cockpit.ui.widgets.render_panel import RenderPanel

RECORDED = Path(__file__).parent / "fixtures" / "recorded_run"
LONG = {"run": {"total_steps": 1_000_000, "eval_freq": 500}}


def live_app(tmp_path, **tables) -> CockpitApp:
    app = create_app(tiny_config(**(tables or LONG)), tmp_path / "run", refresh_s=0.2)
    app.replies = []  # every command's Future, to wait on explicitly
    submit = app.control.submit

    def recording_submit(command):
        future = submit(command)
        app.replies.append(future)
        return future

    app.control.submit = recording_submit
    app.toasts = []  # every notification's text
    notify = app.notify
    app.notify = lambda message, **kwargs: (app.toasts.append(str(message)), notify(message, **kwargs))[1]
    return app


async def answered(app: CockpitApp, pilot, index: int = -1) -> dict:
    """Wait for a command's reply, then for the UI to have shown it."""
    reply = await asyncio.wait_for(asyncio.wrap_future(app.replies[index]), 30)
    await pilot.pause()
    app.refresh_view()
    await pilot.pause()
    return reply.to_dict()


async def started(app: CockpitApp, pilot) -> None:
    """Wait until the trainer is running (its first reply to a harmless command)."""
    app.control.resume("test")
    await answered(app, pilot)


def events_text(app: CockpitApp) -> str:
    """The pane's text with soft wraps undone (lines written before layout wrap at 78 columns)."""
    return "".join(line.text for line in app.events_pane.lines)


def status_text(app: CockpitApp) -> str:
    return str(app.status_strip.render())


def footer_keys(app: CockpitApp) -> set[str]:
    """What the footer shows: the screen's active bindings marked to be shown."""
    return {active.binding.description for active in app.screen.active_bindings.values() if active.binding.show}


async def test_space_pauses_and_resumes(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await started(app, pilot)
        assert "Pause" in footer_keys(app) and "Resume" not in footer_keys(app)
        await pilot.press("space")
        assert (await answered(app, pilot))["state"] == "paused"
        assert "PAUSED" in status_text(app)
        await until(pilot, lambda: "Resume" in footer_keys(app))  # at the next refresh tick
        assert "Pause" not in footer_keys(app)  # the footer says what space does
        step = app.store.status.step
        await pilot.press("space")
        assert (await answered(app, pilot))["state"] == "running"
        # running again (or in one of its scheduled evaluations): no longer paused
        assert "PAUSED" not in status_text(app) and "pause   by ui" in events_text(app)
        assert app.store.status.step >= step


async def test_m_mutes_the_latest_alerts_kind_and_shows_it_again(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await started(app, pilot)
        await pilot.press("space")  # paused: no alert of the run's own comes after this one
        assert (await answered(app, pilot))["state"] == "paused"
        app.store.add_event(Event("alert", 1, None, {"name": "grad_spike", "message": "spike", "fatal": False}))
        await pilot.press("m")
        assert (await answered(app, pilot)) == {
            "ok": True,
            "step": app.replies[-1].result().get("step"),
            "alert": "grad_spike",
            "muted": True,
        }
        assert "grad_spike" in app.store.status.muted_alerts and "alert   grad_spike muted by ui" in events_text(app)
        await pilot.press("m")
        shown = await answered(app, pilot)
        assert (shown["alert"], shown["muted"]) == ("grad_spike", False) and app.store.status.muted_alerts == ()


async def test_e_evaluates_now_and_shows_the_result(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await started(app, pilot)
        await pilot.press("e")
        reply = await answered(app, pilot)
        assert reply["ok"] and not reply["scheduled"] and len(reply["returns"]) == 2
        assert f"eval*   {reply['mean']:.1f} ± {reply['std']:.1f}" in events_text(app)
        assert f"eval at step {reply['step']:,}: {reply['mean']:.2f} ± {reply['std']:.2f} over 2 episodes" in app.toasts
        assert any(not e.scheduled for e in app.snapshot.evaluations)  # on the return chart


async def test_c_checkpoints_at_the_episode_boundary_and_shows_the_path(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await started(app, pilot)
        await pilot.press("c")
        reply = await answered(app, pilot)
        assert reply["ok"] and reply["exact"] and Path(reply["path"]).is_dir()
        text = events_text(app)
        assert "requested: taken at the end of this episode" in text
        assert f"demand {reply['path']}" in text


async def test_r_renders_a_greedy_episode_and_saves_a_gif(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await started(app, pilot)
        await pilot.press("r")
        assert app.query_one(RenderPanel).is_open
        await answered(app, pilot)  # the policy snapshot
        await app.render_worker.wait()
        await pilot.pause()
        caption = str(app.query_one("#caption").render())
        assert "episode over" in caption and "saved" in caption
        assert list((tmp_path / "run" / "renders").glob("*.gif"))
        assert "▀" in str(app.query_one("#frame").render())
        await pilot.press("escape")
        assert not app.query_one(RenderPanel).is_open


async def test_h_dialog_refuses_a_bad_value_and_applies_a_good_one(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await started(app, pilot)
        await pilot.press("h")
        dialog = app.screen
        assert isinstance(dialog, HyperparameterDialog)
        await pilot.press("enter")  # learning_rate, the first option
        field = dialog.query_one("#value")
        field.value = "-1"
        await pilot.press("enter")
        assert "refused" in str(dialog.query_one("#message").render()) and "expected a number in (0, 10]" in str(
            dialog.query_one("#message").render()
        )
        assert app.control.pending_change is None and app.screen is dialog
        field.value = "5e-4"
        await pilot.press("enter")
        assert app.screen is not dialog
        reply = await answered(app, pilot)
        assert reply == {
            "ok": True,
            "step": reply["step"],
            "key": "learning_rate",
            "old": 1e-3,
            "new": 5e-4,
            "number": 1,
            "rollback": f"cockpit --fork {tmp_path / 'run'} --before-change 1",
        }
        toast = f"change #1: learning_rate 0.001 → 0.0005 at step {reply['step']:,}\nroll back: cockpit --fork"
        assert any(toast in message for message in app.toasts)  # a toast outlives the scrolling pane
        assert "learning_rate 0.001 → 0.0005" in events_text(app)
        assert "lr 0.0005" in status_text(app)


async def test_h_dialog_says_when_a_change_is_pending(tmp_path):
    """A scripted trainer that never reaches a step boundary, so an asked change stays pending."""
    release = threading.Event()
    store = MetricsStore()
    store.publish(RunStatus(state=RunState.RUNNING, hyperparameters={"learning_rate": 1e-3, "gamma": 0.99}))
    app = CockpitApp(
        "scripted", Control(), store, make_trainer=lambda: type("T", (), {"run": lambda s: release.wait(30) and {}})()
    )
    async with app.run_test(size=(160, 48)) as pilot:
        first = app.control.set("gamma", 0.95, source="test")
        assert not first.done()
        await pilot.press("h")
        dialog = app.screen
        assert "a change is pending: gamma = 0.95" in str(dialog.query_one("#message").render())
        await pilot.press("enter")
        dialog.query_one("#value").value = "1e-4"
        await pilot.press("enter")
        assert "refused: a change is pending" in str(dialog.query_one("#message").render())
        await pilot.press("escape")
        release.set()


async def test_help_and_chart_keys():
    app = recorded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        charts = list(app.query(MetricChart))
        assert [c.display for c in charts] == [True] + [False] * 5
        for key in "23456":
            await pilot.press(key)
            await pilot.pause()
            assert [c.display for c in charts].index(True) == int(key) - 1
        await pilot.press("1")


async def test_charts_redraw_within_their_time_budget_and_a_chart_switched_to_draws_at_once():
    store = load_history(RECORDED)
    app = CockpitApp("budget", Control(), store, refresh_s=60)  # ticks only when the test calls them
    async with app.run_test(size=(80, 24)) as pilot:
        charts = list(app.query(MetricChart))
        await until(pilot, lambda: app.first_data_shown)  # past the first data's forced redraw
        await pilot.pause()
        for chart in charts:
            chart.render_s = 1.0  # as if each chart took a second to draw
        last = max(store.series["rollout/ep_return"].steps)

        def new_point(step):
            store.publish(points={"rollout/ep_return": (step, 123.0), "train/loss": (step, 0.5, 0.4, 0.6, 10)})
            app.refresh_view()

        new_point(last + 100)  # drawn at once (no budget spent yet); the next draw is 1 s / CHART_SHARE off
        await pilot.pause()
        drawn = {chart.id: chart.drawn_at for chart in charts}
        new_point(last + 200)
        await pilot.pause()
        assert {chart.id: chart.drawn_at for chart in charts} == drawn, "redrawn inside the budget"
        await pilot.press("3")  # the loss chart: shown and drawn with the new point at once
        await pilot.pause()
        assert charts[2].display and charts[2].drawn_at > drawn[charts[2].id]
        assert charts[0].drawn_at == drawn[charts[0].id]


async def test_q_stops_the_run_gracefully_and_exits(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await started(app, pilot)
        await pilot.press("q")
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        await app.trainer_started.wait()
        await app.trainer_worker.wait()
        await pilot.pause()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "stopped"
    meta = json.loads(
        (
            tmp_path
            / "run"
            / "checkpoints"
            / (tmp_path / "run" / "checkpoints" / "latest").read_text().strip()
            / "meta.json"
        ).read_text()
    )
    assert meta["kind"] == "stop" and meta["exact"]


class ExplodingEnv(gym.Wrapper):
    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))
        self.steps = 0

    def step(self, action):
        self.steps += 1
        if self.steps == 150:
            raise RuntimeError("the simulator exploded")
        return super().step(action)


gym.register("Exploding-v0", entry_point=ExplodingEnv, max_episode_steps=50)


async def test_a_trainer_failure_shows_as_failed_with_the_error(tmp_path):
    app = live_app(tmp_path, env={"id": "Exploding-v0", "max_episode_steps": 0})
    async with app.run_test(size=(160, 48)) as pilot:
        await app.trainer_started.wait()
        await app.trainer_worker.wait()
        await pilot.pause()
        app.refresh_view()
        await pilot.pause()
        assert "FAILED" in status_text(app)
        assert "RuntimeError: the simulator exploded" in events_text(app)
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "error" and "exploded" in e["message"] for e in events)


async def test_a_checkpoint_refused_as_the_trainer_loads_it_ends_the_app_with_the_error(tmp_path):
    """`--resume`/`--fork` check the checkpoint's metadata before the first frame and its tensors as
    the trainer loads them (torch's import is not waited for before the first frame); tensors that
    do not load end the app with code 2 and the error, which the CLI prints as its one line."""
    from textual.worker import WorkerFailed

    from cockpit.engine.checkpoints import CheckpointError, find
    from cockpit.engine.trainer import Trainer

    config = tiny_config()
    Trainer(config, tmp_path / "parent").run()
    checkpoint = find(tmp_path / "parent")
    (checkpoint / "state.pt").write_bytes(b"not a zip of tensors")
    app = create_app(config.replace("run", total_steps=900), tmp_path / "parent", checkpoint=checkpoint)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.trainer_started.wait()
        with pytest.raises(WorkerFailed):
            await app.trainer_worker.wait()
        await pilot.pause()
    assert app.return_code == 2
    assert isinstance(app.refused, CheckpointError) and "state.pt: refused to load" in str(app.refused)


async def test_the_run_is_the_same_with_the_ui_as_headless(tmp_path):
    from cockpit.engine.trainer import Trainer

    config = tiny_config()
    Trainer(config, tmp_path / "headless").run()
    app = create_app(config, tmp_path / "ui", refresh_s=0.05)
    async with app.run_test(size=(160, 48)) as pilot:
        await app.trainer_started.wait()
        await app.trainer_worker.wait()
        await pilot.pause()

    assert (tmp_path / "ui" / "metrics.jsonl").read_text() == (tmp_path / "headless" / "metrics.jsonl").read_text()


def recorded_app() -> CockpitApp:
    return CockpitApp("cockpit · CartPole-v1 · cartpole · seed 1", Control(), load_history(RECORDED))


@pytest.mark.parametrize("size", [(80, 24), (160, 48), (120, 36)])
def test_layout_snapshot(snap_compare, size):
    assert snap_compare(recorded_app(), terminal_size=size)


def shown_charts(app: CockpitApp) -> int:
    return sum(chart.display for chart in app.query(MetricChart))


async def test_the_layout_follows_the_terminal_both_ways_and_under_a_dialog():
    app = recorded_app()
    async with app.run_test(size=(160, 48)) as pilot:
        assert shown_charts(app) == 6
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: shown_charts(app) == 1)
        await pilot.resize_terminal(160, 48)
        await until(pilot, lambda: shown_charts(app) == 6)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.resize_terminal(80, 24)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen) and shown_charts(app) == 1)
        await pilot.resize_terminal(119, 40)  # narrower than 120 columns: still one chart
        await until(pilot, lambda: app.size.width == 119)
        assert shown_charts(app) == 1


async def test_f_maximizes_the_selected_chart_and_s_saves_a_screenshot(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a recorded history has no run directory: screenshots/ goes here
    app = recorded_app()
    async with app.run_test(size=(160, 48)) as pilot:
        charts = list(app.query(MetricChart))
        await pilot.press("3", "f")
        assert app.main_screen.maximized is charts[2]
        await pilot.press("escape")
        assert app.main_screen.maximized is None
        await pilot.press("f", "f")
        assert app.main_screen.maximized is None
        await pilot.press("s")
        await until(pilot, lambda: list((tmp_path / "screenshots").glob("cockpit-step-000006000-*.svg")))
    (shot,) = (tmp_path / "screenshots").glob("*.svg")
    text = html.unescape(re.sub(r"<[^>]+>", "", shot.read_text())).replace("\xa0", " ")
    assert "Return" in text and "Gradient norm" in text and "6,000 / 6,000" in text
