"""The cockpit in every theme and without colour: panel titles readable (contrast >= 4.5:1 against
what is behind them) in each of Textual's built-in themes, the theme picked from the command palette
with the charts following it, NO_COLOR drawing no colour in the charts and the render, and a
read-only run offering only the keys that can act on it."""

from __future__ import annotations

import numpy as np
import pytest
from rich.color import Color as RichColor
from rich.segment import Segment
from test_render_layout import shown_charts
from test_ui import footer_keys, recorded_app
from textual.geometry import Region
from textual.theme import BUILTIN_THEMES
from textual.widget import Widget
from waiting import until

from cockpit.ui.app import CockpitApp
from cockpit.ui.halfblock import SHADES
from cockpit.ui.screens.baseline_picker import BaselinePicker
from cockpit.ui.widgets.metric_chart import MetricChart

ANSI_THEMES = {"ansi-dark", "ansi-light"}
"""They draw in the terminal's own colours, unknown to the app: a title must be the terminal's own
foreground on its own background."""


def luminance(color: RichColor) -> float:
    def channel(value: int) -> float:
        v = value / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = color.get_truecolor()
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: RichColor, b: RichColor) -> float:
    """WCAG 2 contrast ratio."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def title_segment(widget: Widget) -> Segment:
    """The segment of the widget's top border that holds its title, as drawn (filters applied)."""
    strip = widget.render_lines(Region(0, 0, widget.size.width + 2, 1))[0]
    first_word = str(widget.border_title).split()[0]
    return next(seg for seg in strip if first_word in seg.text)


def titled_panels(app: CockpitApp) -> list[Widget]:
    return [*app.query(MetricChart), app.events_pane]


async def test_panel_titles_read_in_every_builtin_theme():
    app = recorded_app()
    async with app.run_test(size=(160, 48)) as pilot:
        for name in BUILTIN_THEMES:
            app.theme = name
            await pilot.pause()
            for panel in titled_panels(app):
                style = title_segment(panel).style
                assert style is not None and style.color is not None and style.bgcolor is not None
                where = f"{name}: the {panel.border_title} title"
                if name in ANSI_THEMES:
                    assert style.color.is_default and style.bgcolor.is_default, where
                else:
                    ratio = contrast(style.color, style.bgcolor)
                    assert ratio >= 4.5, f"{where}: {style.color} on {style.bgcolor}, contrast {ratio:.2f}"


def chart_styles(chart: MetricChart) -> set:
    return {
        seg.style for strip in chart.render_lines(Region(0, 0, chart.size.width, chart.size.height)) for seg in strip
    }


async def test_the_palette_offers_textuals_theme_command_and_the_charts_follow_the_theme():
    app = recorded_app()
    async with app.run_test(size=(160, 48)) as pilot:
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Theme" in titles
        chart = app.query_one("#chart-loss", MetricChart)
        await until(pilot, lambda: chart.snapshot is not None)
        await pilot.pause()
        dark = chart_styles(chart)
        app.theme = "textual-light"
        await pilot.pause()
        light = chart_styles(chart)
        assert dark != light
        backgrounds = {style.bgcolor.get_truecolor() for style in light if style and style.bgcolor}
        assert (224, 224, 224) in backgrounds or any(sum(bg) > 600 for bg in backgrounds)  # a light chart


async def test_no_color_draws_the_charts_and_the_render_without_colour(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = recorded_app()
    assert app.no_color
    async with app.run_test(size=(160, 48)) as pilot:
        charts = list(app.query(MetricChart))
        await until(pilot, lambda: all(chart.snapshot is not None for chart in charts))
        await pilot.pause()
        for chart in charts:
            colours = {
                (style.color, style.bgcolor)
                for style in chart_styles(chart)
                if style is not None
                and not (
                    (style.color is None or style.color.is_default)
                    and (style.bgcolor is None or style.bgcolor.is_default)
                )
            }
            assert not colours, f"{chart.spec.title}: {sorted(map(str, colours))[:3]}"
        frame = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
        text = app.render_panel.frame_text(frame)
        assert not text.spans and set(text.plain) <= set(SHADES + "\n")


async def test_a_read_only_run_offers_only_the_keys_that_can_act_on_it():
    app = recorded_app()
    async with app.run_test(size=(160, 48)) as pilot:
        assert not {"Pause", "Resume", "Evaluate", "Checkpoint", "Render", "Hyperparameter"} & footer_keys(app)
        commands = {command.title for command in app.get_system_commands(app.screen)}
        assert {"Charts: next window", "Charts: log scale", "Charts: smoothing", "Baseline run"} <= commands
        assert not {"Evaluate", "Render", "Render/chart"} & commands
        for key in "erv":  # inert: the footer does not offer them
            await pilot.press(key)
        assert not app.render_panel.is_open and len(shown_charts(app)) == 6
        await pilot.press("w", "l", "a")  # the view: as useful on a finished run as on a live one
        view = app.chart_area.view
        assert view.window == 1 and view.log and view.smooth
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, BaselinePicker))


@pytest.fixture(autouse=True)
def _plain_env(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
