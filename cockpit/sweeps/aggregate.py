"""The statistics of a sweep: curves on a common step grid, mean ± standard error, the
interquartile mean (IQM) and its 95% stratified-bootstrap interval (Agarwal et al. 2021,
"Deep RL at the edge of the statistical precipice"), and paired differences between settings.

Why IQM: with a handful of seeds the mean is at the mercy of one lucky or broken seed and the
median throws most of the data away; the IQM (the mean of the middle 50%, `trim_mean(x, 0.25)`,
as rliable computes it) sits between the two. With fewer than 4 runs nothing is trimmed and it
equals the mean. The bootstrap is scipy's (percentile intervals, as rliable's default): each
stratum (a task; here one preset) is resampled on its own, which is what "stratified" means.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

CONFIDENCE = 0.95
RESAMPLES = 2000
TRIM = 0.25


def align(curves: Sequence[tuple[Sequence[float], Sequence[float]]]) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) per run -> (grid, matrix of runs × grid).

    The grid is every evaluation step of any run inside the span that all runs cover (from the
    latest first evaluation to the earliest last one), so no run is extrapolated; a run without
    an evaluation at a grid step is linearly interpolated there. Runs of one preset share their
    steps, so for them this is the identity."""
    runs = [(np.asarray(s, float), np.asarray(v, float)) for s, v in curves if len(s)]
    if not runs:
        return np.zeros(0), np.zeros((0, 0))
    start = max(s[0] for s, _ in runs)
    stop = min(s[-1] for s, _ in runs)
    grid = np.unique(np.concatenate([s[(s >= start) & (s <= stop)] for s, _ in runs]))
    return grid, np.array([np.interp(grid, s, v) for s, v in runs])


def mean_stderr(x: npt.ArrayLike, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of the mean (sample std with ddof=1 over √n); NaN error for n < 2."""
    values = np.asarray(x, float)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    return mean, values.std(axis=axis, ddof=1) / math.sqrt(n)


def iqm(x: npt.ArrayLike, axis: int = 0) -> np.ndarray:
    """Interquartile mean: the mean after cutting 25% of the values from each end."""
    from scipy.stats import trim_mean

    return trim_mean(np.asarray(x, float), TRIM, axis=axis)


def _iqm_of_strata(*strata: np.ndarray, axis: int = -1) -> np.ndarray:
    return iqm(np.concatenate(strata, axis=axis), axis=axis)


def _bootstrap(data: tuple, statistic, paired: bool, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.stats import bootstrap

    with warnings.catch_warnings():
        # Identical values (e.g. every seed at the maximum return) give a zero-width interval,
        # which is the right answer; scipy warns about it all the same.
        warnings.filterwarnings("ignore", message=".*degenerate.*")
        result = bootstrap(
            data,
            statistic,
            n_resamples=RESAMPLES,
            vectorized=True,
            paired=paired,
            axis=0,
            confidence_level=CONFIDENCE,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    return result.confidence_interval.low, result.confidence_interval.high


def iqm_ci(strata: np.ndarray | Sequence[np.ndarray], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """95% stratified-bootstrap interval of the IQM.

    `strata` is one array of runs × points (runs along axis 0: one interval per point, e.g. per
    grid step) or a list of such arrays, one per task, each resampled within itself. NaN where a
    stratum has fewer than 2 runs: resampling one value says nothing about its spread."""
    strata = [np.asarray(strata, float)] if isinstance(strata, np.ndarray) else [np.asarray(s, float) for s in strata]
    if min(s.shape[0] for s in strata) < 2:
        shape = strata[0].shape[1:]
        return np.full(shape, np.nan), np.full(shape, np.nan)
    return _bootstrap(tuple(strata), _iqm_of_strata, paired=False, seed=seed)


def _iqm_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return iqm(a, axis=axis) - iqm(b, axis=axis)


def paired_difference_ci(a: Sequence[float], b: Sequence[float], seed: int = 0) -> tuple[float, float, float]:
    """IQM(a) − IQM(b) and its 95% bootstrap interval, resampling *seeds* (the same indices for a
    and b): two settings run on the same seeds share each seed's luck, and pairing removes it."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length ({len(x)} and {len(y)})")
    difference = float(_iqm_difference(x, y, axis=0))
    if len(x) < 2:
        return difference, math.nan, math.nan
    low, high = _bootstrap((x, y), _iqm_difference, paired=True, seed=seed)
    return difference, float(low), float(high)


@dataclass(frozen=True)
class Score:
    """How one run's evaluation curve becomes the one number settings are ranked by."""

    kind: str = "last"
    """`last`: mean of the last k scheduled evaluations (good at the end, one evaluation's noise
    smoothed); `mean`: mean of all of them (learning speed, the area under the curve);
    `best`: the best one (optimistic: it rewards a lucky evaluation)."""
    k: int = 5

    def of(self, eval_means: Sequence[float]) -> float:
        if not eval_means:
            return math.nan
        if self.kind == "best":
            return float(max(eval_means))
        return last_k_mean(eval_means, len(eval_means) if self.kind == "mean" else self.k)

    def describe(self) -> str:
        return {
            "last": f"the mean of its last {self.k} scheduled evaluations",
            "mean": "the mean of all its scheduled evaluations",
            "best": "its best scheduled evaluation",
        }[self.kind]


def last_k_mean(eval_means: Sequence[float], k: int) -> float:
    """A run's score: the mean of its last k scheduled evaluations (fewer if it has fewer), which
    rewards being good at the end while smoothing the noise of one evaluation."""
    if not eval_means:
        return math.nan
    return float(np.mean(eval_means[-k:]))


def describe(values: Sequence[float]) -> dict:
    """Mean, standard error, IQM and its interval of per-run scalars (None where undefined)."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], float)
    if len(x) == 0:
        return {"n": 0, "mean": None, "stderr": None, "iqm": None, "iqm_ci_low": None, "iqm_ci_high": None}
    mean, stderr = mean_stderr(x)
    low, high = iqm_ci(x[:, None])
    return {
        "n": len(x),
        "mean": _num(mean),
        "stderr": _num(stderr),
        "iqm": _num(iqm(x)),
        "iqm_ci_low": _num(low[0]),
        "iqm_ci_high": _num(high[0]),
    }


def curve_stats(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Per grid step: mean, standard error, IQM and its interval, over the runs (rows)."""
    mean, stderr = mean_stderr(matrix)
    low, high = iqm_ci(matrix)
    return {"mean": mean, "stderr": stderr, "iqm": iqm(matrix), "iqm_ci_low": low, "iqm_ci_high": high}


def _num(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None
