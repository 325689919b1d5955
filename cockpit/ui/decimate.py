"""Reducing a series to one point per chart column, keeping each column's min and max so that
spikes survive however long the run."""

from __future__ import annotations

import numpy as np


def decimate(steps, means, mins, maxs, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bin points by step into at most `columns` bins: (step, mean, min, max) per non-empty bin."""
    steps = np.asarray(steps, dtype=np.float64)
    if len(steps) <= columns or columns < 1:
        return steps, np.asarray(means, float), np.asarray(mins, float), np.asarray(maxs, float)
    edges = np.linspace(steps[0], steps[-1], columns + 1)
    bins = np.clip(np.searchsorted(edges, steps, side="right") - 1, 0, columns - 1)
    counts = np.bincount(bins, minlength=columns)
    nonempty = counts > 0
    mean = np.bincount(bins, weights=np.asarray(means, float), minlength=columns)[nonempty] / counts[nonempty]
    low = np.full(columns, np.inf)
    high = np.full(columns, -np.inf)
    np.minimum.at(low, bins, np.asarray(mins, float))
    np.maximum.at(high, bins, np.asarray(maxs, float))
    last_step = np.zeros(columns)
    np.maximum.at(last_step, bins, steps)
    return last_step[nonempty], mean, low[nonempty], high[nonempty]
