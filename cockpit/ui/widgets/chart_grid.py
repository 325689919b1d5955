"""The six charts, redrawn together over one window of env steps.

Every redraw hands the same snapshot and `Frame` to every visible chart: after it, each ends at the
run's newest published step. Drawing holds the GIL the trainer needs, so redraws come only as often
as keeps their cost under CHART_SHARE of the wall clock (from the charts' last renders), on any
machine and at any terminal size; a chart switched to, or a change of window, draws at once.
"""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Container

from cockpit.engine.metrics import Snapshot
from cockpit.ui.baseline import Baseline
from cockpit.ui.chart_view import ChartView, Frame
from cockpit.ui.widgets.metric_chart import CHARTS, MetricChart

CHART_SHARE = 0.02
"""The share of the wall clock that chart drawing may take."""


class ChartGrid(Container):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.view = ChartView()
        self.baseline: Baseline | None = None
        self.frame: Frame | None = None  # the last one drawn
        self._due = 0.0

    def compose(self) -> ComposeResult:
        for i, spec in enumerate(CHARTS):
            yield MetricChart(spec, classes="-selected" if i == 0 else "")

    @property
    def charts(self) -> list[MetricChart]:
        return list(self.query(MetricChart))

    def redraw(self, snap: Snapshot, forced: bool = False) -> list[MetricChart]:
        """Every visible chart on this snapshot, when the budget allows (or `forced`); the charts
        that will redraw."""
        now = time.monotonic()
        if now < self._due and not forced:
            return []
        self.frame = Frame.of(snap, self.view, self.baseline)
        drawn = [chart for chart in self.charts if chart.display and chart.show(snap, self.frame)]
        self._due = now + sum(chart.prepare_s + chart.render_s for chart in drawn) / CHART_SHARE
        return drawn
