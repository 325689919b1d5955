"""Reducing a series to one point per chart column, keeping each column's min and max so that
spikes survive however long the run. The columns are fixed steps of the charts' shared window, so
that a column means the same stretch of steps on every chart."""

from __future__ import annotations

import numpy as np


def decimate(
    steps, means, mins, maxs, columns: int, lo: float | None = None, hi: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The points with lo <= step <= hi (all by default), binned into `columns` equal stretches of
    [lo, hi]: (last step, mean, min, max) per non-empty bin. Steps are in increasing order."""
    steps = np.asarray(steps, dtype=np.float64)
    means, mins, maxs = (np.asarray(a, dtype=np.float64) for a in (means, mins, maxs))
    if len(steps) == 0:
        return steps, means, mins, maxs
    lo = steps[0] if lo is None else lo
    hi = steps[-1] if hi is None else hi
    first, last = np.searchsorted(steps, lo, side="left"), np.searchsorted(steps, hi, side="right")
    steps, means, mins, maxs = steps[first:last], means[first:last], mins[first:last], maxs[first:last]
    if len(steps) <= columns or columns < 1 or hi <= lo:
        return steps, means, mins, maxs
    bins = np.clip(((steps - lo) * (columns / (hi - lo))).astype(np.int64), 0, columns - 1)
    counts = np.bincount(bins, minlength=columns)
    nonempty = counts > 0
    mean = np.bincount(bins, weights=means, minlength=columns)[nonempty] / counts[nonempty]
    low = np.full(columns, np.inf)
    high = np.full(columns, -np.inf)
    np.minimum.at(low, bins, mins)
    np.maximum.at(high, bins, maxs)
    last_step = np.zeros(columns)
    np.maximum.at(last_step, bins, steps)
    return last_step[nonempty], mean, low[nonempty], high[nonempty]
