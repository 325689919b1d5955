"""Setting a sweep up: the validated base config, the sweep directory, and one job per seed of a
setting. Shared by `cockpit seeds` and `cockpit tune` so both launch runs the same way."""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

from cockpit.engine.config import Config, ConfigError
from cockpit.presets import resolve_config
from cockpit.sweeps.launcher import Job


def default_workers() -> int:
    """One run per core: each run uses one torch thread (run.threads), so this fills the machine."""
    return os.cpu_count() or 1


def require(*modules: str) -> None:
    """Refuse up front, not after an hour of training, when the `sweeps` extra is missing."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"{', '.join(missing)} not installed: pip install 'cockpit[sweeps]'")


def positive(flag: str, value: int) -> int:
    if value < 1:
        raise ConfigError(f"{flag} {value}: expected an integer >= 1")
    return value


def base_config(preset: str, overrides: list[str], workers: int = 1) -> Config:
    """The preset with its `--set`s, checked as a single run would check it (keys, values, the
    env's existence, the device, memory for `workers` runs at once) before any process starts."""
    return resolve_config(preset, overrides, workers=workers)


def sweep_dir(out: Path | None, kind: str, config: Config, resume: bool = False) -> Path:
    """Create the sweep directory (default `runs/<kind>-<preset>-<time>`). An existing non-empty
    one is refused, as run directories are, unless `resume` (a search continues its study there)."""
    if out is None:
        out = Path("runs") / f"{kind}-{config.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not resume:
        raise ConfigError(f"--out {out}: already exists and is not empty (sweeps never overwrite runs)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--out {out}: cannot create ({e.strerror})") from None
    return out


def seed_list(first: int, n: int) -> list[int]:
    return list(range(first, first + n))


def seed_jobs(
    preset: str, overrides: list[str], seeds: list[int], directory: Path, label: str, total_steps: int, tag=None
) -> list[Job]:
    """One `cockpit PRESET --seed S --set ...` job per seed, run directories `directory/s<seed>`,
    logs `directory/logs/s<seed>.log` (beside the run directory: the run creates its own)."""
    sets = [arg for override in overrides for arg in ("--set", override)]
    return [
        Job(
            label=f"{label}s{seed}",
            run_dir=directory / f"s{seed}",
            args=[str(preset), "--seed", str(seed), *sets],
            total_steps=total_steps,
            log=directory / "logs" / f"s{seed}.log",
            tag=tag,
        )
        for seed in seeds
    ]


def dir_name(text: str) -> str:
    """A setting as a directory name: `dqn.learning_rate=0.001` stays readable, odd characters go."""
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", text)[:80]
