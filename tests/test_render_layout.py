"""A render plays beside the return chart, which keeps advancing; at 80x24 it takes the chart's place
and `v` switches between them; the layout follows a resize during a render."""

from __future__ import annotations

from test_ui import answered, live_app, started
from textual.widget import Widget
from waiting import until

from cockpit.ui.app import CockpitApp
from cockpit.ui.widgets.metric_chart import MetricChart


def shown(widget: Widget) -> bool:
    """Laid out on screen: it and every container above it displayed, with a non-empty region."""
    node: object = widget
    while isinstance(node, Widget):
        if not node.display:
            return False
        node = node.parent
    return widget.region.area > 0


def shown_charts(app: CockpitApp) -> list[str]:
    return [chart.spec.key for chart in app.query(MetricChart) if shown(chart)]


async def rendering(app: CockpitApp, pilot) -> None:
    await started(app, pilot)
    await pilot.press("r")
    await answered(app, pilot)  # the policy snapshot: the render worker is playing
    assert app.render_panel.is_open


async def test_the_return_chart_stays_in_view_and_advances_during_a_render(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await rendering(app, pilot)
        await until(pilot, lambda: shown(app.render_panel) and shown_charts(app) == ["return"])
        assert shown(app.status_strip)
        chart = app.query_one("#chart-return", MetricChart)
        await until(pilot, lambda: chart.x_range is not None)
        assert chart.x_range is not None
        first = chart.x_range[1]
        await until(
            pilot, lambda: chart.x_range is not None and chart.x_range[1] > first
        )  # redrawn with newer steps, render open
        assert app.render_panel.is_open
        assert "Render/chart" not in {command.title for command in app.get_system_commands(app.screen)}
        assert "v:" not in str(app.render_panel.border_subtitle)  # both are in view: nothing to switch
        await pilot.press("escape")
        await until(pilot, lambda: len(shown_charts(app)) == 6 and not shown(app.render_panel))


async def test_at_80x24_the_render_takes_the_charts_place_and_v_switches(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await rendering(app, pilot)
        await until(pilot, lambda: shown(app.render_panel) and shown_charts(app) == [])
        assert "v: the chart" in str(app.render_panel.border_subtitle)
        assert "Render/chart" in {command.title for command in app.get_system_commands(app.screen)}
        await pilot.press("3", "v")
        await until(pilot, lambda: shown_charts(app) == ["loss"] and not shown(app.render_panel))
        await pilot.press("v")
        await until(pilot, lambda: shown(app.render_panel) and shown_charts(app) == [])
        await pilot.press("r")  # r closes the render
        await until(pilot, lambda: shown_charts(app) == ["loss"] and not shown(app.render_panel))
        assert "Render/chart" not in {command.title for command in app.get_system_commands(app.screen)}


async def test_the_layout_follows_a_resize_during_a_render(tmp_path):
    app = live_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await rendering(app, pilot)
        await until(pilot, lambda: shown_charts(app) == ["return"] and shown(app.render_panel))
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: shown_charts(app) == [] and shown(app.render_panel))
        await pilot.press("v")
        await until(pilot, lambda: shown_charts(app) == ["return"] and not shown(app.render_panel))
        await pilot.resize_terminal(160, 48)
        await until(pilot, lambda: shown_charts(app) == ["return"] and shown(app.render_panel))
        await pilot.press("escape")
        await until(pilot, lambda: len(shown_charts(app)) == 6)
