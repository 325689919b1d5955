"""One live chart over env steps (plotext), decimated to its width, with event markers.

Markers on every chart: a vertical line where a hyperparameter changed, ▲ where an evaluation
ran and ◆ where a checkpoint was written, along the bottom edge; ✕ along the top where a figure
was NaN or infinite (drawn up to it, never passed to plotext). Redrawing costs real time, so a
chart rebuilds only when its data changed and it is visible.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from textual_plotext import PlotextPlot

from cockpit.engine.metrics import Snapshot
from cockpit.ui.decimate import decimate


@dataclass(frozen=True)
class ChartSpec:
    key: str
    title: str
    series: tuple[tuple[str, str, str], ...]  # (series key, label, colour)
    evals: bool = False  # greedy evaluations as points with ± std (and the target)
    bound: bool = False  # the theoretical Q bound as a line
    band: bool = True  # min/max of each column as faint lines


CHARTS = (
    ChartSpec("return", "Return", (("rollout/ep_return", "training episodes", "blue"),), evals=True, band=False),
    ChartSpec(
        "q",
        "Q magnitude",
        (("train/q_mean", "mean Q", "cyan"), ("train/q_max", "max Q", "blue")),
        bound=True,
        band=False,
    ),
    ChartSpec("loss", "Loss", (("train/loss", "TD loss", "orange"),)),
    ChartSpec("grad", "Gradient norm (before clipping)", (("train/grad_norm", "grad norm", "magenta"),)),
    ChartSpec("epsilon", "Epsilon", (("rollout/epsilon", "epsilon", "green"),), band=False),
    ChartSpec("length", "Episode length", (("rollout/ep_length", "length", "blue"),), band=False),
)


def steps_label(step: float) -> str:
    step = int(round(step))
    if step >= 1_000_000:
        return f"{step / 1e6:.2f}M"
    if step >= 10_000:
        return f"{step / 1e3:.1f}k"
    return str(step)


def finite_part(x: np.ndarray, mean: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, ...]:
    """(x, mean, min, max) where the mean is finite, a non-finite min or max falling back to the mean,
    and the steps left out. plotext refuses NaN; a diverged run must still be drawn up to it."""
    finite = np.isfinite(mean)
    bad = x[~finite | ~np.isfinite(lo) | ~np.isfinite(hi)]
    x, mean, lo, hi = x[finite], mean[finite], lo[finite], hi[finite]
    return x, mean, np.where(np.isfinite(lo), lo, mean), np.where(np.isfinite(hi), hi, mean), bad


class MetricChart(PlotextPlot):
    ALLOW_MAXIMIZE = True
    DEFAULT_CSS = """
    MetricChart { border: round $panel; height: 1fr; min-height: 8; }
    """

    def __init__(self, spec: ChartSpec, **kwargs):
        super().__init__(id=f"chart-{spec.key}", **kwargs)
        self.spec = spec
        self.border_title = spec.title
        self.snapshot: Snapshot | None = None
        self._signature: tuple | None = None
        self.drawn_at = 0.0  # monotonic time of the last redraw, for round-robin refreshes
        self.render_s = 0.0  # what the last render cost, for the app's budget of drawing time

    def signature(self, snap: Snapshot) -> tuple:
        lengths = tuple((len(snap.series[k].steps), snap.series[k].steps[-1:]) for k, _, _ in self.spec.series)
        marks = sum(1 for e in snap.events if e.kind in ("hparam", "checkpoint", "eval"))
        bound = (snap.status.q_range, snap.status.q_bound) if self.spec.bound else None
        return lengths, marks, bound

    def show(self, snap: Snapshot) -> bool:
        """Take new data; refresh only when this chart's data changed. True if it will redraw."""
        signature = self.signature(snap)
        if signature == self._signature:
            return False
        self._signature = signature
        self.snapshot = snap
        first_bad = self.first_non_finite(snap)
        self.border_subtitle = "" if first_bad is None else f"[red]✕ NaN/Inf from step {steps_label(first_bad)}[/]"
        self.drawn_at = time.monotonic()
        self.refresh()
        return True

    def first_non_finite(self, snap: Snapshot) -> float | None:
        """The first step at which one of this chart's figures was NaN or infinite (for its border,
        which is drawn before the plot is)."""
        steps = []
        for key, _, _ in self.spec.series:
            s = snap.series[key]
            if s.steps:
                figures = np.asarray([s.means, s.mins, s.maxs], dtype=np.float64)
                bad = ~np.isfinite(figures).all(axis=0)
                if bad.any():
                    steps.append(s.steps[int(bad.argmax())])
        return min(steps) if steps else None

    def render(self):
        start = time.perf_counter()
        self.draw()
        rendered = super().render()
        self.render_s = time.perf_counter() - start
        return rendered

    def draw(self) -> None:
        plt: Any = self.plt  # plotext's figure: its stubs take lists where it takes arrays too
        plt.clear_figure()
        snap = self.snapshot
        columns = max(10, self.size.width - 8)
        if snap is None or not any(snap.series[k].steps for k, _, _ in self.spec.series):
            plt.title("waiting for data…")
            return
        low_edge, high_edge = np.inf, -np.inf
        broken: list[np.ndarray] = []  # steps whose figures are NaN or infinite
        for key, label, colour in self.spec.series:
            s = snap.series[key]
            if not s.steps:
                continue
            x, mean, lo, hi = decimate(s.steps, s.means, s.mins, s.maxs, columns)
            x, mean, lo, hi, bad = finite_part(x, mean, lo, hi)
            broken.append(bad)
            if not len(x):
                continue
            if self.spec.band and len(x) > 1:
                plt.plot(x, hi, color="gray", marker="braille", label="min–max")
                plt.plot(x, lo, color="gray", marker="braille")
            plt.plot(x, mean, color=colour, label=label, marker="braille")
            low_edge, high_edge = min(low_edge, lo.min()), max(high_edge, hi.max())
        bad = np.concatenate(broken) if broken else np.zeros(0)
        if not np.isfinite(low_edge):  # nothing finite to draw: say so instead of an empty plot
            plt.title(
                f"no finite values: NaN/Inf from step {steps_label(bad.min())}" if len(bad) else "waiting for data…"
            )
            return
        if self.spec.evals and snap.evaluations:
            ev = snap.evaluations
            plt.error(
                [e.step for e in ev],
                [e.mean for e in ev],
                yerr=[e.std for e in ev],
                color="green",
                label="greedy eval ± std",
            )
            target = snap.status.target_return
            if target is not None and np.isfinite(target):
                plt.hline(target, "red")
        if self.spec.bound:
            for bound in snap.status.q_range or (snap.status.q_bound,):
                if bound is not None and np.isfinite(bound):
                    plt.hline(bound, "red")
                    high_edge, low_edge = max(high_edge, bound), min(low_edge, bound)
        self._markers(snap, low_edge)
        if len(bad):
            plt.scatter(bad, [high_edge] * len(bad), marker="✕", color="red")
        self._step_ticks(snap)
        plt.xlabel("env steps")

    def _step_ticks(self, snap: Snapshot) -> None:
        """Whole step counts on the x axis (plotext would print 1565.2)."""
        steps = [snap.series[k].steps for k, _, _ in self.spec.series if snap.series[k].steps]
        low, high = min(s[0] for s in steps), max(s[-1] for s in steps)
        if high > low:
            ticks = np.linspace(low, high, 5)
            self.plt.xticks(ticks.tolist(), [steps_label(t) for t in ticks])

    def _markers(self, snap: Snapshot, floor: float) -> None:
        plt: Any = self.plt  # plotext's figure: its stubs take lists where it takes arrays too
        evals = [e.step for e in snap.events if e.kind == "eval"]
        ckpts = [e.step for e in snap.events if e.kind == "checkpoint"]
        if evals:
            plt.scatter(evals, [floor] * len(evals), marker="▲", color="cyan")
        if ckpts:
            plt.scatter(ckpts, [floor] * len(ckpts), marker="◆", color="magenta")
        for e in snap.events:
            if e.kind == "hparam":
                plt.vline(e.step, "yellow")
