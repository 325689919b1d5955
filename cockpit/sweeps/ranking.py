"""Ranking settings that were run on the same seeds, and saying how far to trust the ranking.

Each setting's score is the IQM over seeds of each seed's score (its last-k evaluation mean),
with a 95% bootstrap interval. Because every setting ran on the same seeds, the second and later
settings are compared with the best on *paired* differences (each seed against itself), which
cancels the luck a seed brings to every setting; when the interval of a difference includes zero
the two are not yet told apart, and the ranking says so rather than pretending.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cockpit.sweeps import aggregate
from cockpit.sweeps.report import fmt, interval, table


@dataclass
class Ranked:
    label: str
    scores: list[float]
    """Per seed, in the order of the sweep's seeds; NaN where that seed's run gave no score."""
    iqm: float = math.nan
    low: float = math.nan
    high: float = math.nan
    diff: dict = field(default_factory=dict)
    """Against the best: {"difference", "low", "high", "pairs", "includes_zero"}; empty for the best."""

    def to_json(self) -> dict:
        return {
            "label": self.label,
            "seed_scores": self.scores,
            "iqm": self.iqm,
            "iqm_ci_low": self.low,
            "iqm_ci_high": self.high,
            "vs_best": self.diff or None,
        }


def rank(settings: list[tuple[str, list[float]]]) -> list[Ranked]:
    """Best first; a setting with no score at all goes last."""
    ranked = []
    for label, scores in settings:
        finite = np.array([s for s in scores if math.isfinite(s)])
        r = Ranked(label, list(scores))
        if len(finite):
            r.iqm = float(aggregate.iqm(finite))
            lows, highs = aggregate.iqm_ci(finite[:, None])
            r.low, r.high = float(lows[0]), float(highs[0])
        ranked.append(r)
    ranked.sort(key=lambda r: -r.iqm if math.isfinite(r.iqm) else math.inf)
    best = ranked[0]
    for other in ranked[1:]:
        pairs = [
            (a, b) for a, b in zip(best.scores, other.scores, strict=False) if math.isfinite(a) and math.isfinite(b)
        ]
        if not pairs:
            continue
        a, b = zip(*pairs, strict=False)
        difference, low, high = aggregate.paired_difference_ci(a, b)
        other.diff = {
            "difference": difference,
            "low": low,
            "high": high,
            "pairs": len(pairs),
            "includes_zero": not (math.isfinite(low) and (low > 0 or high < 0)),
        }
    return ranked


def ranking_text(ranked: list[Ranked], name: str, seeds: list[int], score: aggregate.Score) -> str:
    """The ranking table, then one plain sentence on whether it can be trusted."""
    rows = []
    for i, r in enumerate(ranked, 1):
        d = r.diff
        vs = "(best)" if i == 1 else (f"{d['difference']:+.1f} {interval(d['low'], d['high'])}" if d else "-")
        rows.append([str(i), r.label, fmt(r.iqm), interval(r.low, r.high), vs, " ".join(fmt(s) for s in r.scores)])
    headers = [
        "rank",
        name,
        "score IQM",
        "95% CI",
        "best − this (paired, 95% CI)",
        "per seed " + ",".join(map(str, seeds)),
    ]
    text = table(headers, rows, left=2)
    text += (
        f"\nscore: for each seed {score.describe()}, then the IQM over "
        f"{len(seeds)} seeds; settings share seeds, so they are compared on paired differences"
    )
    return text + "\n" + verdict(ranked, len(seeds))


MIN_SEEDS_FOR_A_VERDICT = 3


def verdict(ranked: list[Ranked], n_seeds: int) -> str:
    if len(ranked) < 2:
        return ""
    if n_seeds < 2:
        return "with 1 seed there is no interval at all: this ranking is anecdotal, not to be trusted"
    if n_seeds < MIN_SEEDS_FOR_A_VERDICT:
        # With 2 seeds the bootstrap has 3 distinct resamples: any difference whose seeds agree in
        # sign "excludes zero", which says nothing.
        return (
            f"with {n_seeds} seeds the intervals are too coarse to separate settings: this ranking is "
            f"anecdotal, not to be trusted (run {MIN_SEEDS_FOR_A_VERDICT} seeds or more)"
        )
    unclear = [r.label for r in ranked[1:] if not r.diff or r.diff["includes_zero"]]
    if unclear:
        return (
            f"the interval of the difference includes zero for {', '.join(unclear)}: "
            f"{ranked[0].label} is not distinguishable from {'it' if len(unclear) == 1 else 'them'} yet, "
            "so the ranking is not to be trusted yet "
            "(run more seeds)"
        )
    return f"{ranked[0].label} is ahead of every other setting on these seeds (no paired interval includes zero)"
