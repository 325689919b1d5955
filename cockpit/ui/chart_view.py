"""What every chart shows at once: one window of env steps ending at the run's newest step, and the
reader's choices (log-scale y, smoothing). The app takes one `Frame` per redraw and hands the same
to every chart, so that the charts agree about "now" and a spike lines up across them by eye."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cockpit.engine.metrics import Snapshot

WINDOWS: tuple[tuple[str, int | None], ...] = (("whole run", None), ("last 10K", 10_000), ("last 100K", 100_000))
"""The windows `w` cycles through: a label and a span of env steps (None: from the first figure)."""
SMOOTHING = 0.05
"""The smoothing's moving average spans this share of the points shown, centred (no lag)."""


@dataclass(frozen=True)
class ChartView:
    """The reader's choices, the same for every chart."""

    window: int = 0  # index into WINDOWS
    log: bool = False
    smooth: bool = False

    @property
    def window_label(self) -> str:
        return WINDOWS[self.window][0]

    def next_window(self) -> ChartView:
        return replace(self, window=(self.window + 1) % len(WINDOWS))

    def describe(self) -> str:
        """For the status strip: the window and the options in force."""
        options = [name for name, on in (("log y", self.log), ("smoothed", self.smooth)) if on]
        return " · ".join([f"⟷ {self.window_label}", *options])


@dataclass(frozen=True)
class Frame:
    """One redraw's common ground: the x range [lo, hi] in env steps, the view, and the baseline
    run drawn on the return chart (None: none)."""

    lo: float
    hi: float
    view: ChartView
    baseline: Any = None  # a `baseline.Baseline`, compared by identity

    @classmethod
    def of(cls, snap: Snapshot, view: ChartView, baseline: Any = None) -> Frame:
        """The window ends at the newest step the run published (or logged); it starts `span` steps
        earlier, or at the first figure of any series, whichever is later."""
        firsts = [s.steps[0] for s in snap.series.values() if s.steps]
        lasts = [s.steps[-1] for s in snap.series.values() if s.steps]
        hi = max([snap.status.step, *lasts])
        first = min(firsts, default=0)
        span = WINDOWS[view.window][1]
        lo = first if span is None else max(first, hi - span)
        return cls(float(lo), float(max(hi, lo + 1)), view, baseline)


def smoothed(values: np.ndarray) -> np.ndarray:
    """A centred moving average over SMOOTHING of the points (fewer at the edges): no lag, so a
    change still lines up with its step; NaN-free input expected."""
    width = max(1, int(len(values) * SMOOTHING) // 2 * 2 + 1)
    if width <= 1 or len(values) < 3:
        return values
    kernel = np.ones(width)
    total = np.convolve(values, kernel, mode="same")
    counts = np.convolve(np.ones(len(values)), kernel, mode="same")
    return total / counts


def ticks(lo: float, hi: float, count: int) -> list[float]:
    """Round ticks within [lo, hi], at least two: the smallest step of 1, 2, 2.5 or 5 × 10^k that
    gives no more than `count` (else the fewest), as a reader counts."""
    if hi <= lo or count < 2:
        return [lo]
    power = 10.0 ** math.floor(math.log10((hi - lo) / count))
    found: list[list[float]] = []
    for step in (m * power * scale for scale in (0.1, 1, 10, 100) for m in (1, 2, 2.5, 5)):
        first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
        if last - first + 1 >= 2:
            found.append([k * step for k in range(first, last + 1)])
    fitting = [t for t in found if len(t) <= count]
    return fitting[0] if fitting else min(found, key=len, default=[lo, hi])


def steps_label(step: float) -> str:
    step = int(round(step))
    if abs(step) >= 1_000_000:
        return f"{step / 1e6:.2f}M"
    if abs(step) >= 10_000:
        return f"{step / 1e3:.1f}k"
    return str(step)


LABEL_WIDTH = 6
"""Every y tick label is this wide, so that charts of one width have the same plot area and a step
falls in the same column on each."""


def value_label(value: float) -> str:
    """A y tick, at most LABEL_WIDTH characters, right-aligned."""
    magnitude = abs(value)
    if value == 0:
        text = "0"
    elif magnitude >= 1e5 or magnitude < 1e-3:
        text = f"{value:.0e}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")
    elif magnitude >= 1000:
        text = f"{value:.0f}"
    else:
        text = f"{value:.3g}"
    return text[:LABEL_WIDTH].rjust(LABEL_WIDTH)


def log_ticks(lo: float, hi: float, count: int) -> tuple[list[float], list[str]]:
    """Ticks for a log10 axis spanning [lo, hi] (in log10 units): whole decades when there are at
    least two, else round values; labelled with the value itself."""
    decades = list(range(math.ceil(lo), math.floor(hi) + 1))
    if len(decades) >= 2:
        stride = max(1, math.ceil(len(decades) / max(count, 2)))
        values = [10.0**d for d in decades[::stride]]
    else:
        values = [v for v in ticks(10**lo, 10**hi, count) if v > 0]
    return [math.log10(v) for v in values], [value_label(v) for v in values]


def step_labels(steps: list[float]) -> list[str]:
    """X tick labels in one unit for the whole axis (5k, 10k, 15k; not 5000, 10.0k)."""
    top = max((abs(s) for s in steps), default=0)
    if top >= 1_000_000:
        return [f"{s / 1e6:.3g}M" for s in steps]
    if top >= 10_000:
        return [f"{s / 1e3:.4g}k" for s in steps]
    return [f"{s:.0f}" for s in steps]
