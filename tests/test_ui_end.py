"""When a run ends, the cockpit shows all of it: every chart catches up with the last figures even
though nothing new is published, and the end's checkpoint reads as the normal thing it is."""

from __future__ import annotations

from tiny import tiny_config
from waiting import until

from cockpit.text import event_line
from cockpit.ui.launch import create_app
from cockpit.ui.widgets.metric_chart import MetricChart


def latest_step(chart: MetricChart) -> int:
    series = [chart.snapshot.series[key].steps for key, _, _ in chart.spec.series] if chart.snapshot else []
    return max((s[-1] for s in series if s), default=0)


async def test_every_chart_shows_the_end_of_a_finished_run(tmp_path):
    app = create_app(tiny_config(run={"total_steps": 3_000, "eval_freq": 1_000}), tmp_path / "run", refresh_s=0.1)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.summary is not None)
        charts = [c for c in app.query(MetricChart) if c.display]
        assert len(charts) == 6
        await until(pilot, lambda: all(latest_step(c) >= 2_900 for c in charts), timeout=10)
    end = [e for e in app.store.events if e.kind == "checkpoint"][-1]
    assert end.get("at_end") and "end of run" in event_line(end) and "inexact" not in event_line(end)
