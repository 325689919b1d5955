"""A baseline to beat: another run's evaluation curve and training returns, drawn faint on the
return chart by env step, and the live run's standing against it ("one change at a time", made
visible). Read with the history readers, so a damaged run is refused in one line naming its file.
No Textual here: `cockpit PRESET --baseline` checks the run before anything starts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cockpit.engine.config import ConfigError
from cockpit.engine.contract import Evaluation
from cockpit.engine.history import load_history, read_metadata, read_summary
from cockpit.engine.metrics import Series
from cockpit.ui.decimate import decimate


class Baseline:
    """A finished (or still running) run's scheduled evaluations and training returns."""

    def __init__(self, run_dir: Path, label: str, evaluations: Sequence[Evaluation], returns: Series):
        self.run_dir = Path(run_dir)
        self.label = label
        scheduled = sorted((e.step, e.mean) for e in evaluations if e.scheduled and np.isfinite(e.mean))
        self.eval_steps = np.asarray([s for s, _ in scheduled], dtype=np.float64)
        self.eval_means = np.asarray([m for _, m in scheduled], dtype=np.float64)
        self.returns = returns

    def mean_at(self, step: float) -> float | None:
        """Its evaluation mean at `step`, interpolated between its scheduled evaluations; None outside them."""
        if not len(self.eval_steps) or not self.eval_steps[0] <= step <= self.eval_steps[-1]:
            return None
        return float(np.interp(step, self.eval_steps, self.eval_means))

    def evaluations_within(self, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        keep = (self.eval_steps >= lo) & (self.eval_steps <= hi)
        return self.eval_steps[keep], self.eval_means[keep]

    def returns_within(self, lo: float, hi: float, columns: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.returns
        x, mean, _, _ = decimate(s.steps, s.means, s.mins, s.maxs, columns, lo, hi)
        return x, mean

    def values_within(self, lo: float, hi: float) -> list[float]:
        """What it draws between lo and hi, for the chart's y range."""
        _, means = self.evaluations_within(lo, hi)
        steps = np.asarray(self.returns.steps, dtype=np.float64)
        returns = np.asarray(self.returns.means, dtype=np.float64)[(steps >= lo) & (steps <= hi)]
        values = np.concatenate([means, returns])
        return values[np.isfinite(values)].tolist()


def load_baseline(run_dir: Path, label: str | None = None) -> Baseline:
    """The run in `run_dir` as a baseline; a run directory that does not read back is a ConfigError
    naming the file (and line)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no config.toml)")
    store = load_history(run_dir)
    return Baseline(run_dir, label or run_dir.name, store.evaluations, store.series["rollout/ep_return"])


def parent_run(run_dir: Path) -> Path | None:
    """The run a fork started from, as its metadata names it (None for a run that is no fork)."""
    parent = read_metadata(run_dir).get("parent")
    found = parent.get("run_dir") if isinstance(parent, dict) else None
    return Path(found) if isinstance(found, str) and found else None


@dataclass(frozen=True)
class Standing:
    """The live run's latest scheduled evaluation against the baseline's at the same step."""

    step: int
    live: float
    baseline: float
    past_its_end: bool = False  # the baseline ended before `step`: its last evaluation is compared

    @property
    def margin(self) -> float:
        return self.live - self.baseline


def standing(baseline: Baseline | None, evaluations: Sequence[Evaluation]) -> Standing | None:
    """None without a baseline or before the first scheduled evaluation of either; past the
    baseline's last evaluation, that one is compared (and said so)."""
    if baseline is None or not len(baseline.eval_steps):
        return None
    latest = next((e for e in reversed(evaluations) if e.scheduled and np.isfinite(e.mean)), None)
    if latest is None:
        return None
    if latest.step > baseline.eval_steps[-1]:
        return Standing(latest.step, latest.mean, float(baseline.eval_means[-1]), past_its_end=True)
    theirs = baseline.mean_at(latest.step)
    return None if theirs is None else Standing(latest.step, latest.mean, theirs)


@dataclass(frozen=True)
class EndedRun:
    """A row of the baseline picker: an ended run under the runs folder."""

    run_dir: Path
    status: str  # finished, stopped, failed; damaged when its summary does not read back
    steps: int | None
    final_eval: float | None
    best_eval: float | None
    problem: str | None = None


def ended_runs(root: Path, exclude: Path | None = None) -> list[EndedRun]:
    """The runs under `root` that have ended (they wrote summary.json), newest first, as `cockpit
    ls` finds them; one whose summary is damaged is listed as such, with the reason."""
    from cockpit.remote.runs import find_runs

    root = Path(root)
    if not root.is_dir():
        return []
    rows = []
    for run_dir in find_runs(root):
        if exclude is not None and run_dir.resolve() == Path(exclude).resolve():
            continue
        try:
            summary = read_summary(run_dir / "summary.json")
        except ConfigError as e:
            rows.append(EndedRun(run_dir, "damaged", None, None, None, str(e)))
            continue
        if summary is None:
            continue
        rows.append(
            EndedRun(
                run_dir,
                summary["status"],
                summary["steps"],
                summary.get("final_eval_return"),
                summary.get("best_eval_return"),
            )
        )
    return sorted(rows, key=lambda r: _mtime(r.run_dir), reverse=True)


def _mtime(run_dir: Path) -> float:
    try:
        return (run_dir / "summary.json").stat().st_mtime
    except OSError:
        return 0.0
