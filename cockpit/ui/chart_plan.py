"""What one chart draws on one frame, worked out once per redraw (no plotext, no Textual): each
series decimated to the plot's columns, the y range with the log scale where it can apply, the
rules worth drawing, the evaluations and baseline inside the window. `MetricChart` draws a plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cockpit.engine.contract import Evaluation
from cockpit.engine.metrics import Snapshot
from cockpit.ui.chart_view import Frame
from cockpit.ui.decimate import decimate

if TYPE_CHECKING:
    from cockpit.ui.widgets.metric_chart import ChartSpec

CHECKPOINT_RULES = 6
"""At most this many checkpoint rules in a window: past it only the ones a person asked for (or the
run's end) are drawn, never a carpet of periodic ones. A count, not a share of the width, so that
the legend says the same at any size."""


def finite_part(x: np.ndarray, mean: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, ...]:
    """(x, mean, min, max) where the mean is finite, a non-finite min or max falling back to the mean,
    and the steps left out. plotext refuses NaN; a diverged run must still be drawn up to it."""
    finite = np.isfinite(mean)
    bad = x[~finite | ~np.isfinite(lo) | ~np.isfinite(hi)]
    x, mean, lo, hi = x[finite], mean[finite], lo[finite], hi[finite]
    return x, mean, np.where(np.isfinite(lo), lo, mean), np.where(np.isfinite(hi), hi, mean), bad


@dataclass
class Layer:
    """One series as drawn: its columns within the frame (x, mean, min, max), finite."""

    label: str
    colour: Any
    x: np.ndarray
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


@dataclass
class Plan:
    cells: int
    rows: int
    layers: list[Layer] = field(default_factory=list)
    bad: np.ndarray = field(default_factory=lambda: np.zeros(0))  # steps of NaN/Inf figures in the window
    first_bad: float | None = None  # the first such step of the whole run
    log: bool = False  # log10 applied to every y
    ylim: tuple[float, float] = (0.0, 1.0)  # scaled
    changes: list[int] = field(default_factory=list)
    checkpoints: list[int] = field(default_factory=list)
    lines: list[float] = field(default_factory=list)  # the target or the Q bounds, unscaled
    evaluations: list[Evaluation] = field(default_factory=list)
    has_data: bool = False

    def scale(self, values: Any) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        return np.log10(values) if self.log else values


def first_non_finite(spec: ChartSpec, snap: Snapshot) -> float | None:
    """The first step at which one of the chart's figures was NaN or infinite."""
    steps = []
    for key, _, _ in spec.series:
        s = snap.series[key]
        if s.steps:
            figures = np.asarray([s.means, s.mins, s.maxs], dtype=np.float64)
            bad = ~np.isfinite(figures).all(axis=0)
            if bad.any():
                steps.append(s.steps[int(bad.argmax())])
    return min(steps) if steps else None


def plan(spec: ChartSpec, snap: Snapshot, frame: Frame, cells: int, rows: int) -> Plan:
    out = Plan(cells, rows, first_bad=first_non_finite(spec, snap))
    broken = []
    for key, label, colour in spec.series:
        s = snap.series[key]
        out.has_data = out.has_data or bool(s.steps)
        if not s.steps:
            continue
        x, mean, lo, hi = decimate(s.steps, s.means, s.mins, s.maxs, cells, frame.lo, frame.hi)
        x, mean, lo, hi, bad = finite_part(x, mean, lo, hi)
        broken.append(bad)
        if len(x):
            out.layers.append(Layer(label, colour, x, mean, lo, hi))
    out.bad = np.concatenate(broken) if broken else np.zeros(0)
    inside = [e for e in snap.events if frame.lo <= e.step <= frame.hi]
    out.changes = [e.step for e in inside if e.kind == "hparam"]
    checkpoints = [e for e in inside if e.kind == "checkpoint"]
    if len(checkpoints) > CHECKPOINT_RULES:
        checkpoints = [e for e in checkpoints if e.get("checkpoint") not in ("periodic", "best")]
    out.checkpoints = [e.step for e in checkpoints]
    status = snap.status
    if spec.evals:
        out.lines = [status.target_return] if status.target_return is not None else []
        out.evaluations = [
            e for e in snap.evaluations if frame.lo <= e.step <= frame.hi and np.isfinite(e.mean) and np.isfinite(e.std)
        ]
    if spec.bound:
        out.lines = [b for b in (status.q_range or (status.q_bound,)) if b is not None]
    out.lines = [float(v) for v in out.lines if np.isfinite(v)]
    if not out.layers:
        return out
    values = np.concatenate(
        [
            *(np.concatenate([la.lo, la.hi] if spec.band else [la.mean]) for la in out.layers),
            [e.mean - e.std for e in out.evaluations],
            [e.mean + e.std for e in out.evaluations],
            frame.baseline.values_within(frame.lo, frame.hi) if spec.evals and frame.baseline is not None else [],
            out.lines,
        ]
    )
    values = values[np.isfinite(values)]
    series_values = np.concatenate([la.lo for la in out.layers])  # a column's min: what decimation hides
    out.log = frame.view.log and bool((series_values > 0).all())
    if out.log:  # what cannot be drawn on a log axis (a spread below zero, a bound at 0) is left out
        values = values[values > 0]
        out.lines = [v for v in out.lines if v > 0]
    scaled = out.scale(values)
    low, high = float(scaled.min()), float(scaled.max())
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    out.ylim = (low, high)
    return out


def band_cells(layer: Layer, p: Plan, frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    """The plot cells between each column's min and max, as points on plotext's own grid (it puts
    value v of [a, b] in cell floor(0.5 + (n - 1)(v - a)/(b - a))): a band one cell fine, drawn in
    one call however long the run."""
    columns = np.arange(p.cells)
    at = frame.lo + columns * (frame.hi - frame.lo) / max(1, p.cells - 1)
    at = at[(at >= layer.x[0]) & (at <= layer.x[-1])]
    low, high = np.interp(at, layer.x, p.scale(layer.lo)), np.interp(at, layer.x, p.scale(layer.hi))
    bottom, span = p.ylim[0], p.ylim[1] - p.ylim[0]

    def row(v: np.ndarray) -> np.ndarray:
        return np.clip(np.floor(0.5 + (p.rows - 1) * (v - bottom) / span), 0, p.rows - 1).astype(np.int64)

    first, last = row(low), row(high)
    wide = last > first  # a band within one row is under its own line: not drawn
    at, first, last = at[wide], first[wide], last[wide]
    counts = last - first + 1
    xs = np.repeat(at, counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    ys = bottom + (np.repeat(first, counts) + offsets) * span / max(1, p.rows - 1)
    return xs, ys


def spread_points(p: Plan) -> tuple[list[float], list[float]]:
    """Each evaluation's ± std as a column of braille dots (four to a row): one scatter for all."""
    dot = (p.ylim[1] - p.ylim[0]) / max(1, p.rows * 4)
    xs: list[float] = []
    ys: list[float] = []
    for e in p.evaluations:
        low = e.mean - e.std if not p.log else max(e.mean - e.std, e.mean / 10)
        if p.log and e.mean <= 0:
            continue
        top, bottom = float(p.scale(e.mean + e.std)), float(p.scale(low))
        if top > bottom:
            spread = np.arange(bottom, top + dot / 2, dot)
            xs += [float(e.step)] * len(spread)
            ys += spread.tolist()
    return xs, ys
