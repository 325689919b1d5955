"""One live chart over env steps (plotext), drawn over the window every chart shares (`chart_view.Frame`).

Each series is its mean per column as a line, with its min–max band behind it where the spec asks;
greedy evaluations are points with their ± std on the return chart; live changes and checkpoints
are thin vertical rules; ✕ along the top marks a figure that was NaN or infinite (drawn up to it,
never passed to plotext). The legend is the bottom border: it names everything drawn. Drawing
costs real time, so a chart rebuilds only when its data or frame changed, and keeps what plotext
built for repaints that change nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from textual.app import RenderResult
from textual.color import Color
from textual_plotext import PlotextPlot

from cockpit.engine.metrics import Snapshot
from cockpit.ui.chart_plan import Layer, Plan, band_cells, plan, spread_points
from cockpit.ui.chart_view import (
    LABEL_WIDTH,
    Frame,
    log_ticks,
    smoothed,
    step_labels,
    steps_label,
    ticks,
    value_label,
)

Rgb = tuple[int, int, int]
BLUE, CYAN, ORANGE, MAGENTA, GREEN = (90, 140, 255), (0, 200, 215), (255, 160, 40), (215, 95, 215), (95, 200, 95)
EVAL, TARGET, CHANGE, CHECKPOINT, BASELINE = (
    (150, 230, 110),
    (230, 70, 70),
    (235, 200, 50),
    (150, 150, 150),
    (200, 200, 200),
)
FAINT = 0.2
"""How much of its own colour a band keeps against the chart's background (rules and a raw series
under its smoothing keep a little more)."""


@dataclass(frozen=True)
class ChartSpec:
    key: str
    title: str
    series: tuple[tuple[str, str, Rgb], ...]  # (series key, label, colour)
    evals: bool = False  # greedy evaluations as points with ± std, the target, a baseline run
    bound: bool = False  # the range any return can take, as two lines
    band: bool = True  # each column's min–max behind the mean


CHARTS = (
    ChartSpec("return", "Return", (("rollout/ep_return", "episodes", BLUE),), evals=True, band=False),
    ChartSpec("q", "Q magnitude", (("train/q_mean", "mean Q", CYAN), ("train/q_max", "max Q", BLUE)), bound=True),
    ChartSpec("loss", "Loss", (("train/loss", "TD loss", ORANGE),)),
    ChartSpec("grad", "Gradient norm (before clipping)", (("train/grad_norm", "grad norm", MAGENTA),)),
    ChartSpec("epsilon", "Epsilon", (("rollout/epsilon", "epsilon", GREEN),), band=False),
    ChartSpec("length", "Episode length", (("rollout/ep_length", "length", BLUE),), band=False),
)


def swatch(colour: Rgb, mark: str) -> str:
    return f"[rgb({colour[0]},{colour[1]},{colour[2]})]{mark}[/]"


class MetricChart(PlotextPlot):
    ALLOW_MAXIMIZE = True
    DEFAULT_CSS = """
    MetricChart {
        border: round $panel; height: 1fr; min-height: 8;
        border-title-color: $foreground; border-subtitle-color: $foreground-darken-1;
    }
    """

    def __init__(self, spec: ChartSpec, **kwargs):
        super().__init__(id=f"chart-{spec.key}", **kwargs)
        self.spec = spec
        self.border_title = spec.title
        self.snapshot: Snapshot | None = None
        self.frame: Frame | None = None
        self.x_range: tuple[float, float] | None = None  # the steps the chart spans, as last shown
        self._signature: tuple | None = None
        self._plan: Plan | None = None
        self._built: tuple[tuple, RenderResult] | None = None  # (what it was built from, plotext's output)
        self.drawn_at = 0.0  # monotonic time of the last redraw
        self.render_s = 0.0  # what the last render cost, for the app's budget of drawing time
        self.prepare_s = 0.0  # what working out the last plan cost (decimation, ranges, legend)

    def signature(self, snap: Snapshot, frame: Frame) -> tuple:
        lengths = tuple((len(snap.series[k].steps), snap.series[k].steps[-1:]) for k, _, _ in self.spec.series)
        marks = sum(1 for e in snap.events if e.kind in ("hparam", "checkpoint"))
        evals = len(snap.evaluations) if self.spec.evals else 0
        bound = (snap.status.q_range, snap.status.q_bound) if self.spec.bound else None
        target = snap.status.target_return if self.spec.evals else None
        return lengths, marks, evals, bound, target, frame if self.spec.evals else (frame.lo, frame.hi, frame.view)

    def show(self, snap: Snapshot, frame: Frame) -> bool:
        """Take the tick's snapshot and frame; refresh only when what this chart draws changed. True
        if it will redraw."""
        signature = self.signature(snap, frame)
        if signature == self._signature:
            return False
        self._signature = signature
        self.snapshot, self.frame = snap, frame
        self.x_range = (frame.lo, frame.hi)
        self._plan = None
        start = time.perf_counter()
        p = self._prepare()
        self.border_subtitle = "" if p is None else self.legend(p)
        self.prepare_s = time.perf_counter() - start
        self.drawn_at = time.monotonic()
        self.refresh()
        return True

    @property
    def log_applied(self) -> bool:
        return self._plan is not None and self._plan.log

    def render(self) -> RenderResult:
        key = (self._signature, self.size.width, self.size.height, self.app.theme)
        if self._built is not None and self._built[0] == key:
            return self._built[1]  # a repaint that changes nothing (a toast, a hover, a dialog closing)
        start = time.perf_counter()
        self.draw()
        rendered = super().render()
        self.render_s = time.perf_counter() - start
        self._built = (key, rendered)
        return rendered

    # ------------------------------------------------------------- drawing
    def _plot_size(self) -> tuple[int, int]:
        """plotext's canvas: the widget less the y labels and the frame's sides, less the x labels and
        the frame's top and bottom."""
        return max(4, self.size.width - LABEL_WIDTH - 2), max(2, self.size.height - 3)

    def _prepare(self) -> Plan | None:
        if self.snapshot is None or self.frame is None:
            return None
        cells, rows = self._plot_size()
        if self._plan is None or (self._plan.cells, self._plan.rows) != (cells, rows):
            self._plan = plan(self.spec, self.snapshot, self.frame, cells, rows)
        return self._plan

    def legend(self, p: Plan) -> str:
        """The bottom border: everything drawn, named, most telling first."""
        smooth = " (smoothed)" if self.frame is not None and self.frame.view.smooth else ""
        items = [swatch(layer.colour, "━") + f" {layer.label}{smooth}" for layer in p.layers]
        if p.evaluations:
            items.append(swatch(EVAL, "●") + " eval ± std")
        if self.spec.evals and self.frame is not None and self.frame.baseline is not None:
            items.append(swatch(self._faint(BASELINE, 0.6), "┄") + f" baseline {self.frame.baseline.label}")
        if self.spec.band and p.layers:
            items.append("".join(swatch(self._faint(la.colour), self._band_mark) for la in p.layers) + " min–max")
        if p.lines:
            items.append(swatch(TARGET, "─") + (" target" if self.spec.evals else " Q bounds"))
        if p.checkpoints:
            items.append(swatch(self._faint(CHECKPOINT, 0.5), "│") + " checkpoint")
        if p.changes:
            items.append(swatch(CHANGE, "│") + " live change")
        if self.frame is not None and self.frame.view.log and not p.log and p.layers:
            items.append("[dim]linear: values ≤ 0[/]")
        warning = [] if p.first_bad is None else [f"[red]✕ NaN/Inf from step {steps_label(p.first_bad)}[/]"]
        return "  ".join(warning + items)

    def draw(self) -> None:
        plt: Any = self.plt  # plotext's figure: its stubs take lists where it takes arrays too
        plt.clear_figure()
        p = self._prepare()
        if p is None:
            plt.title("waiting for data…")
            return
        assert self.frame is not None  # set with the plan
        frame = self.frame
        self._x_axis(frame, p.cells)
        if not p.layers:
            plt.title(
                f"no finite values: NaN/Inf from step {steps_label(p.first_bad)}"
                if p.first_bad is not None
                else ("no figures in this window" if p.has_data else "waiting for data…")
            )
            return
        low, high = p.ylim
        plt.ylim(low, high)
        count = max(2, min(5, p.rows // 2))
        if p.log:
            positions, labels = log_ticks(low, high, count)
        else:
            positions = ticks(low, high, count)
            labels = [value_label(v) for v in positions]
        rows = [int(np.floor(0.5 + (p.rows - 1) * (v - low) / (high - low))) for v in positions]
        kept = [i for i, row in enumerate(rows) if row not in rows[:i]]  # two labels on one row: the first
        plt.yticks([positions[i] for i in kept], [labels[i] for i in kept])
        for step in p.checkpoints:
            plt.vline(step, self._faint(CHECKPOINT, 0.5))
        for step in p.changes:
            plt.vline(step, CHANGE)
        for value in p.lines:
            plt.hline(float(p.scale(value)), TARGET)
        if self.spec.evals and frame.baseline is not None:
            self._baseline(p, frame)
        for layer in p.layers:  # every band first: one series' band never hides another's line
            self._band(layer, p, frame)
        for layer in p.layers:
            self._series(layer, p, frame)
        if p.evaluations:
            xs, ys = spread_points(p)
            if xs:
                plt.scatter(xs, ys, marker="braille", color=EVAL)
            for marker, scheduled in (("●", True), ("○", False)):
                points = [e for e in p.evaluations if e.scheduled == scheduled and (e.mean > 0 or not p.log)]
                if points:
                    plt.scatter([e.step for e in points], p.scale([e.mean for e in points]), marker=marker, color=EVAL)
        if len(p.bad):
            plt.scatter(p.bad, [high] * len(p.bad), marker="✕", color=TARGET)

    def _x_axis(self, frame: Frame, cells: int) -> None:
        plt: Any = self.plt
        plt.xlim(frame.lo, frame.hi)
        positions = ticks(frame.lo, frame.hi, max(2, min(6, cells // 12)))
        plt.xticks(positions, step_labels(positions))

    @property
    def _band_mark(self) -> str:
        """A band is faint by its colour; under NO_COLOR (no colour drawn) by its mark."""
        return "·" if self.app.no_color else "█"

    def _faint(self, colour: Rgb, share: float = FAINT) -> Rgb:
        """`colour` blended into the chart's background: a band, a rule, a series under its smoothing."""
        background = Color.parse(self.app.theme_variables.get("surface", "#1e1e1e"))
        mixed = background.blend(Color(*colour), share)
        return mixed.r, mixed.g, mixed.b

    def _band(self, layer: Layer, p: Plan, frame: Frame) -> None:
        if self.spec.band and len(layer.x) > 1:
            xs, ys = band_cells(layer, p, frame)
            if len(xs):
                plt: Any = self.plt
                plt.scatter(xs, ys, marker=self._band_mark, color=self._faint(layer.colour))

    def _series(self, layer: Layer, p: Plan, frame: Frame) -> None:
        plt: Any = self.plt
        mean = p.scale(layer.mean)
        if frame.view.smooth and len(mean) > 2:
            if not self.spec.band:
                plt.scatter(layer.x, mean, marker="braille", color=self._faint(layer.colour, 0.5))
            mean = smoothed(mean)
        plt.plot(layer.x, mean, marker="braille", color=layer.colour)

    def _baseline(self, p: Plan, frame: Frame) -> None:
        """Another run's training returns and evaluation curve, faint, by env step."""
        plt: Any = self.plt
        base = frame.baseline
        x, mean = base.returns_within(frame.lo, frame.hi, p.cells)
        keep = np.isfinite(mean) & ((mean > 0) if p.log else True)
        if keep.any():
            plt.scatter(x[keep], p.scale(mean[keep]), marker="braille", color=self._faint(BASELINE, 0.3))
        ex, emean = base.evaluations_within(frame.lo, frame.hi)
        keep = np.isfinite(emean) & ((emean > 0) if p.log else True)
        if keep.any():
            plt.plot(ex[keep], p.scale(emean[keep]), marker="braille", color=self._faint(BASELINE, 0.6))
