"""A group of runs of one setting over several seeds: its per-seed rows, its aligned curves and
their aggregates. The unit that `seeds` reports once, and `tune` and `compare` once per setting."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from cockpit.sweeps import aggregate
from cockpit.sweeps.report import Series
from cockpit.sweeps.runs import RunRecord

PER_RUN = ("final_eval", "best_eval", "first_step_reaching_target", "wall_time_s", "steps_per_s")


@dataclass
class Group:
    label: str
    records: list[RunRecord]

    @property
    def with_evals(self) -> list[RunRecord]:
        return [r for r in self.records if r.steps]

    @cached_property
    def aligned(self) -> tuple[np.ndarray, np.ndarray]:
        return aggregate.align([(r.steps, r.means) for r in self.with_evals])

    @cached_property
    def curves(self) -> dict[str, np.ndarray]:
        grid, matrix = self.aligned
        if not len(grid):
            return {}
        return {"step": grid, **aggregate.curve_stats(matrix)}

    def scores(self, score: aggregate.Score) -> list[float]:
        """Each run's score, in record order."""
        return [score.of(r.means) for r in self.records]

    def rows(self) -> list[dict]:
        return [r.stats() for r in self.records]

    def aggregates(self) -> dict[str, dict]:
        """mean / stderr / IQM / IQM interval of each per-run figure, over the runs that have it."""
        rows = self.rows()
        return {key: aggregate.describe([row[key] for row in rows]) for key in PER_RUN}

    def reached_target(self) -> int:
        return sum(r.stats()["first_step_reaching_target"] is not None for r in self.records)

    def mean_series(self, label: str | None = None) -> Series:
        """Mean ± standard error, with the individual runs."""
        c = self.curves
        if not c:
            return Series(label or self.label, [], [])
        return Series(
            label or self.label,
            c["step"],
            c["mean"],
            c["mean"] - c["stderr"],
            c["mean"] + c["stderr"],
            runs=[(r.steps, r.means) for r in self.with_evals],
            band="± stderr",
        )

    def iqm_series(self, label: str | None = None) -> Series:
        """IQM with its 95% bootstrap interval."""
        c = self.curves
        if not c:
            return Series(label or self.label, [], [])
        return Series(
            label or f"{self.label} IQM",
            c["step"],
            c["iqm"],
            c["iqm_ci_low"],
            c["iqm_ci_high"],
            style="--",
            band="95% CI",
        )

    def curves_json(self) -> dict:
        c = self.curves
        out: dict[str, object] = {key: [float(v) for v in values] for key, values in c.items()}
        out["runs"] = {str(r.seed): {"step": r.steps, "mean": r.means} for r in self.records}
        return out

    def target(self) -> float | None:
        targets = {(r.summary or {}).get("target_return") for r in self.records} - {None}
        return targets.pop() if len(targets) == 1 else None
