"""The charts agree about "now": one window of env steps for all, redrawn together; the keys that
change the window, the y scale and smoothing for every chart at once; bands, rules and legends."""

from __future__ import annotations

import random

import numpy as np
from tiny import tiny_config
from waiting import until

from cockpit.engine.contract import Evaluation, Event, RunState, RunStatus
from cockpit.engine.control import Control
from cockpit.engine.metrics import PUBLISH_EVERY, SERIES, MetricsStore, Series
from cockpit.ui.app import CockpitApp
from cockpit.ui.chart_view import ChartView, Frame, ticks, value_label
from cockpit.ui.decimate import decimate
from cockpit.ui.launch import create_app
from cockpit.ui.widgets.metric_chart import MetricChart

LONG = {"run": {"total_steps": 1_000_000, "eval_freq": 500}}
STEPS = 1_000  # points per series in `long_store`, PUBLISH_EVERY apart


def long_store() -> MetricsStore:
    """A 100,000-step history with a negative return in it, evaluations, checkpoints and a live change."""
    store = MetricsStore()
    rnd = random.Random(1)
    for i in range(1, STEPS + 1):
        step = i * PUBLISH_EVERY
        points = {
            "train/loss": (step, 0.5 + rnd.random(), 0.1, 3.0, 25),
            "train/q_mean": (step, i / 100, i / 200, i / 50, 25),
            "train/q_max": (step, i / 50, i / 100, i / 25, 25),
            "train/grad_norm": (step, 1 + rnd.random(), 0.5, 5.0, 25),
            "rollout/epsilon": (step, max(0.05, 1 - i / 500)),
        }
        if i % 3 == 0:
            points["rollout/ep_return"] = (step, -50.0 if i == 30 else rnd.random() * 200)
            points["rollout/ep_length"] = (step, 10 + rnd.random() * 100)
        store.publish(points=points)
        if i % 50 == 0:
            store.add_evaluation(Evaluation(step, True, 100.0, 20.0, (80.0, 120.0), (80, 120)))
            store.add_event(Event("eval", step, None, {"mean": 100.0, "std": 20.0, "returns": [80.0, 120.0]}))
            store.add_event(Event("checkpoint", step, None, {"checkpoint": "periodic", "path": "p"}))
    store.add_event(Event("checkpoint", 95_050, None, {"checkpoint": "demand", "path": "d"}))
    store.add_event(Event("hparam", 96_000, None, {"key": "learning_rate", "old": 1e-3, "new": 5e-4}))
    store.publish(RunStatus(state=RunState.PAUSED, step=STEPS * PUBLISH_EVERY, total_steps=200_000, q_range=(0, 50)))
    return store


def charts(app: CockpitApp) -> list[MetricChart]:
    return [chart for chart in app.query(MetricChart) if chart.display]


async def test_after_a_tick_every_chart_ends_at_the_newest_published_step(tmp_path):
    app = create_app(tiny_config(**LONG), tmp_path / "run", refresh_s=60)  # ticks when the test calls them
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.store.status.step >= 1_500 and app.first_data_shown)
        for _ in range(3):
            await until(pilot, lambda: app.store.status.step > (app.snapshot.status.step if app.snapshot else 0))
            app.chart_area._due = 0.0  # the budget of drawing time spent: this tick redraws
            app.refresh_view()
            shown, snap = charts(app), app.snapshot
            newest = max([snap.status.step] + [s.steps[-1] for s in snap.series.values() if s.steps])
            assert len(shown) == 6
            assert {chart.x_range for chart in shown} == {(shown[0].x_range[0], float(newest))}
            assert all(chart.snapshot is snap for chart in shown)  # one snapshot for all
        app.control.stop("test")


async def test_w_l_and_a_change_every_chart_at_once_and_the_strip_says_so():
    app = CockpitApp("keys", Control(), long_store(), refresh_s=60)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: all(chart.x_range for chart in charts(app)))
        assert {chart.x_range for chart in charts(app)} == {(100.0, 100_000.0)}
        await pilot.press("w")
        await pilot.pause()
        assert {chart.x_range for chart in charts(app)} == {(90_000.0, 100_000.0)}
        assert "last 10K" in str(app.status_strip.render())
        await pilot.press("w")
        await pilot.pause()
        assert {chart.x_range for chart in charts(app)} == {(100.0, 100_000.0)}  # 100K covers the run
        await pilot.press("w", "l")
        await pilot.pause()
        assert {chart.x_range for chart in charts(app)} == {(100.0, 100_000.0)}
        assert "log y" in str(app.status_strip.render())
        applied = {chart.spec.key: chart.log_applied for chart in charts(app)}
        assert applied["loss"] and applied["grad"] and applied["epsilon"]
        assert not applied["return"] and "linear: values ≤ 0" in str(app.query_one("#chart-return").border_subtitle)
        await pilot.press("a")
        await pilot.pause()
        assert "smoothed" in str(app.status_strip.render())
        assert all("(smoothed)" in str(chart.border_subtitle) for chart in charts(app))
        for chart in charts(app):  # drawn as the user sees it, log and smoothed
            chart.render()


async def test_every_series_band_and_mark_is_named_in_its_charts_legend():
    app = CockpitApp("legend", Control(), long_store(), refresh_s=60)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: all(chart.x_range for chart in charts(app)))
        for chart in charts(app):
            legend = str(chart.border_subtitle)
            assert all(label in legend for _, label, _ in chart.spec.series), legend
            assert ("min–max" in legend) == chart.spec.band
            assert "live change" in legend and "checkpoint" in legend
        assert {c.spec.key for c in charts(app) if c.spec.band} == {"q", "loss", "grad"}
        assert "eval ± std" in str(app.query_one("#chart-return").border_subtitle)
        loss = app.query_one("#chart-loss", MetricChart)
        loss.render()
        plan = loss._plan
        # 20 periodic checkpoints are too many to read as rules: only the one asked for is drawn
        assert plan.checkpoints == [95_050] and plan.changes == [96_000]
        ret = app.query_one("#chart-return", MetricChart)
        ret.render()
        assert len(ret._plan.evaluations) == 20


def test_decimation_bins_the_shared_window_and_keeps_spikes():
    steps = np.arange(1, 1001) * 100.0
    means = np.ones(1000)
    maxs = means.copy()
    maxs[500] = 50.0  # a spike
    x, mean, lo, hi = decimate(steps, means, means, maxs, 10, 50_000, 100_000)
    assert len(x) == 10 and x[0] >= 50_000 and x[-1] == 100_000
    assert hi.max() == 50.0 and np.allclose(mean, 1.0)
    assert len(decimate(steps, means, means, maxs, 10, 200_000, 300_000)[0]) == 0


def test_the_window_ends_at_the_newest_step_and_ticks_are_round():
    store = long_store()
    frame = Frame.of(store.current(), ChartView(window=1))
    assert (frame.lo, frame.hi) == (90_000.0, 100_000.0)
    assert ticks(13, 6_000, 5) == [2_000.0, 4_000.0, 6_000.0]
    assert all(len(value_label(v)) == 6 for v in (0, 0.0018, 4.12, 99.3, 475, 12_345.6, 1e-5, -200, 2e6))


def test_a_narrow_window_is_drawn_from_the_stores_finer_newest_points_however_long_the_run():
    """The store halves every series when it fills, newest points included; what arrived since the
    last halving is as published, so the last steps always hold more points than the oldest."""
    store = MetricsStore(series={key: Series(64) for key in SERIES})  # halves every 32 points
    for i in range(1, 2_001):
        store.publish(points={"train/loss": (i * PUBLISH_EVERY, float(i), float(i), float(i) + 0.5)})
    snap = store.current()
    frame = Frame.of(snap, ChartView(window=1))
    loss = snap.series["train/loss"]
    x, *_ = decimate(loss.steps, loss.means, loss.mins, loss.maxs, 70, frame.lo, frame.hi)
    assert len(loss.steps) < 64 and len(x) >= 20 and x[-1] == 200_000


async def test_the_chart_keys_are_in_the_command_palette():
    app = CockpitApp("palette", Control(), long_store(), refresh_s=60)
    async with app.run_test(size=(160, 48)):
        titles = {command.title for command in app.get_system_commands(app.screen)}
    assert {"Charts: next window", "Charts: log scale", "Charts: smoothing", "Baseline run"} <= titles
