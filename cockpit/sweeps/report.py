"""How a sweep's results leave the process: a text table, CSV and JSON files, the best setting as a
preset, a terminal plot (plotext) and a PNG (matplotlib). The statistics are computed elsewhere; this only shows them."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.engine.config import Config, apply_overrides, to_toml
from cockpit.engine.files import write_atomic, write_json_atomic
from cockpit.engine.runlog import clean_json

if TYPE_CHECKING:
    import numpy as np

ANECDOTAL = (
    "note: fewer than 3 seeds: this result is anecdotal; differences between seeds of the same "
    "setting are often larger than the effect you are looking for"
)


@dataclass
class Series:
    """One curve to draw: a line, optionally a band around it, optionally its individual runs."""

    label: str
    steps: Sequence[float] | np.ndarray
    values: Sequence[float] | np.ndarray
    low: Sequence[float] | np.ndarray | None = None
    high: Sequence[float] | np.ndarray | None = None
    runs: list[tuple[Sequence[float], Sequence[float]]] = field(default_factory=list)
    style: str = "-"
    band: str = ""
    """What the band is (`± stderr`, `95% CI`), for the terminal plot's legend."""


def fmt(value, spec: str = ".1f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec)


def interval(low, high, spec: str = ".1f") -> str:
    return (
        "-"
        if low is None or high is None or not (math.isfinite(low) and math.isfinite(high))
        else f"[{low:{spec}}, {high:{spec}}]"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """Right-aligned columns (numbers), the first `left` ones left-aligned (they name the row)."""
    rows = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = []
    for row in [list(headers)] + rows:
        cells = [c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=False))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def write_csv(path: Path, headers: Sequence[str], rows: Sequence[Sequence]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow(["" if v is None or (isinstance(v, float) and not math.isfinite(v)) else v for v in row])
    write_atomic(path, buffer.getvalue())


def write_json(path: Path, obj: object) -> None:
    write_json_atomic(path, clean_json(obj))


def write_best(path: Path, base: Config, overrides: list[str], comment: str) -> Config:
    """The best setting as a preset: the base config (its --sets included) plus the winning values."""
    best = apply_overrides(base.to_dict(), overrides, "best setting", base.name)
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    write_atomic(path, header + to_toml(best))
    return best


def target_in_view(series: Sequence[Series], target: float | None) -> bool:
    """Draw the target line only near the curves: a target far above a run that has not learned
    yet would squash every curve into one flat line at the bottom."""
    if target is None or not math.isfinite(target):
        return False
    values = [v for s in series for v in s.values if math.isfinite(v)]
    if not values:
        return False
    low, high = min(values), max(values)
    span = max(high - low, abs(high) * 0.1, 1.0)
    return low - span <= target <= high + span


MARKERS = ("braille", "•", "+", "x", "*", "o", "#", "@")


def terminal_plot(
    series: Sequence[Series],
    title: str,
    target: float | None = None,
    color: bool = False,
    width: int | None = None,
    height: int = 18,
) -> str:
    """The curves as text. One curve shows its band as two dotted lines; several curves show
    lines only, each with its own marker so they stay apart without colour (logs, pipes)."""
    import shutil

    import plotext as plt

    plt.clear_figure()
    plt.theme("clear")
    plt.plotsize(width or min(100, shutil.get_terminal_size().columns - 2), height)
    drawn = [s for s in series if len(s.steps)]
    for i, s in enumerate(drawn):
        plt.plot(list(s.steps), list(s.values), label=s.label, marker=MARKERS[i % len(MARKERS)])
        if len(drawn) == 1 and s.low is not None and s.high is not None:
            for bound, label in ((s.high, s.band or "band"), (s.low, None)):
                if all(math.isfinite(v) for v in bound):
                    plt.plot(list(s.steps), list(bound), marker=".", label=label)
    note = ""
    if target_in_view(drawn, target):
        plt.hline(target)
    elif target is not None and math.isfinite(target):
        note = f"\n(target {target:g} is off the chart)"
    plt.title(title)
    plt.xlabel("env step")
    text = plt.build()
    plt.clear_figure()
    return (text if color else plt.uncolorize(text)) + note


def png_plot(
    path: Path,
    series: Sequence[Series],
    title: str,
    target: float | None = None,
    ylabel: str = "greedy evaluation return",
) -> None:
    """The curves, their bands (filled) and their individual runs (thin) as a PNG. matplotlib's
    object API without pyplot: no global figure state and no GUI backend is ever touched. A path that
    cannot take the file is refused (ConfigError naming it) before anything is drawn or written."""
    from matplotlib.figure import Figure

    from cockpit.engine.config import ConfigError
    from cockpit.engine.recording import check_output_file

    check_output_file(path, str(path))

    fig = Figure(figsize=(9, 5.5), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    for i, s in enumerate(series):
        color = f"C{i % 10}"
        for steps, values in s.runs:
            ax.plot(steps, values, color=color, alpha=0.25, linewidth=0.8)
        if len(s.steps):
            ax.plot(s.steps, s.values, s.style, color=color, linewidth=2, label=s.label)
        if s.low is not None and s.high is not None and len(s.steps):
            ax.fill_between(s.steps, s.low, s.high, color=color, alpha=0.2, linewidth=0)
    if target is not None and target_in_view(series, target):
        ax.axhline(target, color="gray", linestyle=":", linewidth=1, label=f"target {target:g}")
    ax.set_title(title)
    ax.set_xlabel("env step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    try:
        write_atomic(path, buffer.getvalue())
    except OSError as e:
        raise ConfigError(f"{path}: cannot write the plot ({e.strerror})") from None
