"""Reading finished (or stopped) run directories: the scheduled evaluation curve, the summary,
the config. What the multi-run tools need and nothing that imports torch."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

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

    @property
    def seed(self) -> int | None:
        return self.config.get("run", {}).get("seed")

    def stats(self) -> dict:
        """The per-run row of a sweep summary."""
        s = self.summary or {}
        return {
            "seed": self.seed,
            "run_dir": str(self.path),
            "status": s.get("status", "no summary"),
            "final_eval": self.means[-1] if self.means else None,
            "best_eval": max(self.means) if self.means else None,
            "first_step_reaching_target": s.get("first_step_reaching_target"),
            "wall_time_s": s.get("wall_time_s"),
            "steps_per_s": s.get("train_steps_per_s"),
            "steps": s.get("steps"),
        }


def scheduled_evals(path: Path) -> list[dict]:
    """The scheduled evaluation records of metrics.jsonl, in order; a torn last line is skipped."""
    evals = []
    try:
        text = (Path(path) / "metrics.jsonl").read_text(encoding="utf-8")
    except FileNotFoundError:
        return evals
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("kind") == "eval" and record.get("scheduled") and record.get("mean") is not None:
            evals.append(record)
    return evals


def read_run(path: Path) -> RunRecord:
    path = Path(path)
    try:
        config = tomllib.loads((path / "config.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: not a run directory (config.toml: {e})") from None
    evals = scheduled_evals(path)
    try:
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = None
    return RunRecord(path, [e["step"] for e in evals], [e["mean"] for e in evals], summary, config)


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
    return {f"{table}.{key}": value for table, values in tables.items() if isinstance(values, dict)
            for key, value in values.items()}
