"""Reading finished (or stopped) run directories: the scheduled evaluation curve, the summary,
the config. What the multi-run tools need and nothing that imports torch."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from cockpit.engine.config import ConfigError


@dataclass
class RunRecord:
    """One run directory as the sweep tools see it."""

    path: Path
    steps: list[int] = field(default_factory=list)
    """Steps of the scheduled greedy evaluations (on-demand ones are left out: they are not on the grid)."""
    means: list[float] = field(default_factory=list)
    """Mean greedy return at each of those steps."""
    summary: dict | None = None
    """summary.json, or None while the run has not ended (or crashed before writing it)."""
    config: dict = field(default_factory=dict)
    """The resolved config tables (config.toml)."""
    damage: str | None = None
    """Why its metrics or summary could not be read back (one line naming the file), or None."""

    @property
    def seed(self) -> int | None:
        return self.config.get("run", {}).get("seed")

    def stats(self) -> dict:
        """The per-run row of a sweep summary."""
        s = self.summary or {}
        return {
            "seed": self.seed,
            "run_dir": str(self.path),
            "status": "damaged" if self.damage else s.get("status", "no summary"),
            "final_eval": self.means[-1] if self.means else None,
            "best_eval": max(self.means) if self.means else None,
            "first_step_reaching_target": s.get("first_step_reaching_target"),
            "wall_time_s": s.get("wall_time_s"),
            "steps_per_s": s.get("train_steps_per_s"),
            "steps": s.get("steps"),
        }


def scheduled_evals(path: Path) -> list[dict]:
    """The scheduled evaluation records of metrics.jsonl, in order; a torn last line is skipped, any
    other damage is refused (`ConfigError` naming the file and line)."""
    from cockpit.engine.history import read_metrics

    records = read_metrics(Path(path) / "metrics.jsonl")
    return [r for r in records if r["kind"] == "eval" and r["scheduled"] and r["mean"] is not None]


def read_run(path: Path) -> RunRecord:
    """A run as the sweep tools see it; a config that does not read is refused (`ConfigError`), damaged
    logs or summary leave a record without evaluations that says why (`damage`)."""
    from cockpit.engine.history import read_config_tables, read_summary

    path = Path(path)
    config = read_config_tables(path)
    try:
        evals = scheduled_evals(path)
        summary = read_summary(path / "summary.json")
    except ConfigError as e:
        return RunRecord(path, config=config, damage=str(e))
    return RunRecord(path, [e["step"] for e in evals], [e["mean"] for e in evals], summary, config)


def read_runs(paths: list[Path], err: TextIO | None = None) -> list[RunRecord]:
    """The runs that read back whole; each damaged one is named in one line on `err` (stderr) and left out."""
    err, records = err or sys.stderr, []
    for path in paths:
        try:
            record = read_run(path)
        except ConfigError as e:
            record = RunRecord(Path(path), damage=str(e))
        if record.damage:
            print(f"cockpit: left out a damaged run: {record.damage}", file=err, flush=True)
        else:
            records.append(record)
    return records


def is_run_dir(path: Path) -> bool:
    return (Path(path) / "config.toml").is_file() and (Path(path) / "metrics.jsonl").is_file()


def find_run_dirs(path: Path) -> list[Path]:
    """The run directories at or below `path` (a run, a seeds sweep, a tune sweep), sorted."""
    path = Path(path)
    if is_run_dir(path):
        return [path]
    return sorted(p.parent for p in path.rglob("metrics.jsonl") if is_run_dir(p.parent))


def flatten(tables: dict) -> dict[str, object]:
    """{"dqn": {"gamma": 0.99}} -> {"dqn.gamma": 0.99}; nested tables (env.kwargs) stay whole."""
    return {
        f"{table}.{key}": value
        for table, values in tables.items()
        if isinstance(values, dict)
        for key, value in values.items()
    }
