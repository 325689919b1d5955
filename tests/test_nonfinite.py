"""A run that goes NaN is when a person needs the cockpit most: the local UI and an attached viewer
stay open, draw what is finite, mark the rest and show the diagnosis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from live_run import wait_for_file
from tiny import tiny_config, write_tiny_preset
from waiting import until

from cockpit.ui.launch import create_app, create_attach_app
from cockpit.ui.widgets.metric_chart import MetricChart

TESTS = Path(__file__).parent
POISON_STEP = 300
LONG = {"total_steps": 1_000_000, "eval_freq": 200}


def poison_rewards(trainer, action, result):
    obs, reward, terminated, truncated, info = result
    return obs, (float("nan") if trainer.step >= POISON_STEP else reward), terminated, truncated, info


def diagnosed(store) -> bool:
    return store.status.state == "paused" and any(
        e.kind == "alert" and e.get("name") == "non_finite" for e in store.events
    )


async def draw_every_chart(app, pilot) -> list[str]:
    """Each chart drawn now, as the user would flip through them; their subtitles."""
    subtitles = []
    for index, chart in enumerate(app.query(MetricChart)):
        app.action_show_chart(index)
        await pilot.pause()
        chart.draw()
        str(chart.plt.build())  # plotext's own drawing, where NaN used to raise
        subtitles.append(chart.border_subtitle)
    return subtitles


async def test_the_local_cockpit_stays_open_and_shows_the_diagnosis(tmp_path):
    app = create_app(tiny_config(run=LONG), tmp_path / "run", refresh_s=0.2)
    make_trainer = app.make_trainer

    def poisoned():
        trainer = make_trainer()
        trainer.step_hook = poison_rewards
        return trainer

    app.make_trainer = poisoned
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: diagnosed(app.store))
        app.version = -1
        app.refresh_view()
        subtitles = await draw_every_chart(app, pilot)
        assert app.is_running and app.run_state == "paused"
        assert any("NaN/Inf from step" in s for s in subtitles), subtitles
        text = "".join(line.text for line in app.events_pane.lines)
        assert "non-finite" in text and "paused on non-finite values" in text
        app.control.stop("test")
        await until(pilot, lambda: app.summary is not None)
    assert app.summary["status"] == "stopped"


async def test_an_attached_viewer_stays_open_on_a_run_gone_non_finite(tmp_path):
    preset = write_tiny_preset(
        tmp_path / "nan.toml", env={"id": "broken_envs:cockpit-tests/NanReward-v0", "reward_abs_max": 1.0}, run=LONG
    )
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    with open(tmp_path / "run.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cockpit", str(preset), "--no-ui", "--run-dir", str(run_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_for_file(run_dir / "control.json", proc=proc)
        app = create_attach_app(run_dir, refresh_s=0.2)
        async with app.run_test(size=(160, 48)) as pilot:
            assert await asyncio.to_thread(app.store.wait_for, lambda status: status.state == "paused", 60)
            await until(pilot, lambda: diagnosed(app.store))
            app.version = -1
            app.refresh_view()
            subtitles = await draw_every_chart(app, pilot)
            assert app.is_running
            assert any("NaN/Inf from step" in s for s in subtitles), subtitles
            assert "paused on non-finite values" in "".join(line.text for line in app.events_pane.lines)
    finally:
        proc.terminate()
        assert proc.wait(60) == 143
