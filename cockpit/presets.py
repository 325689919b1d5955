"""From a preset (or a run directory) to a config that will run here: overrides applied, then the
env, the device and the memory checked before anything starts.

Shared by the commands that start runs (a run, `check`, `play`, the sweeps), so each refuses bad
input with the same one-line message. Only the config module is imported up front: gymnasium and
torch load inside the checks that need them, after the preset has been read.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cockpit.engine.config import TABLES, Config, ConfigError, apply_overrides, build_config, load_preset
from cockpit.engine.config_values import read_toml

SET_FILE_HELP = (
    "overrides in the preset's own tables ([dqn] learning_rate = 1e-3), applied after the preset and "
    "before any --set (repeatable, in order)"
)


SET_HELP = "override any preset key, as for a run (repeatable)"


def add_override_flags(p: argparse.ArgumentParser, set_help: str = SET_HELP) -> None:
    """`--set` and `--set-file`, alike on every command that starts runs (`overrides_from` reads them)."""
    p.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE", help=set_help)
    p.add_argument("--set-file", action="append", default=[], type=Path, metavar="FILE.toml", help=SET_FILE_HELP)


def overrides_from(set_files: Sequence[Path], sets: Sequence[str]) -> list[str]:
    """`--set-file` contents as `--set` overrides (so sweeps hand them to their runs as they are),
    followed by the `--set` flags themselves; each file is checked on its own, errors name it."""
    overrides: list[str] = []
    for path in set_files:
        overrides += set_file_overrides(Path(path))
    return overrides + list(sets)


def set_file_overrides(path: Path) -> list[str]:
    where = f"--set-file {path}"
    tables = read_toml(path, where, "a TOML file of preset tables")
    for key, value in tables.items():
        if key in TABLES and not isinstance(value, dict):
            raise ConfigError(f"{where}: {key} = {value!r}: expected a table [{key}] (e.g. [dqn] learning_rate = 1e-3)")
    build_config(tables, where, cross_checks=False)  # unknown tables, keys and values, named
    return [f"{table}.{key}={toml_value(value)}" for table, values in tables.items() for key, value in values.items()]


def toml_value(value: Any) -> str:
    """A TOML value as `--set` reads it back, on one line (env.kwargs as an inline table)."""
    if isinstance(value, dict):
        keys = (k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k) for k in value)
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in zip(keys, value.values(), strict=True)) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    import tomli_w

    return tomli_w.dumps({"v": value}).partition("=")[2].strip()


def resolve_config(
    source: str | Path,
    overrides: Sequence[str] = (),
    *,
    seed: int | None = None,
    total_steps: int | None = None,
    base: Config | None = None,
    workers: int = 1,
) -> Config:
    """The preset at `source` (or `base`, the config read from `source`, a run directory or a
    checkpoint) with `--set` overrides, `--seed` and `--total-steps` applied, checked for
    `workers` runs at once; errors name `source`."""
    where = str(source)
    overrides = list(overrides)
    if seed is not None:
        overrides.append(f"run.seed={seed}")
    if total_steps is not None:
        overrides.append(f"run.total_steps={total_steps}")
    if base is None:
        config = load_preset(source, overrides)
    else:
        config = apply_overrides(base.to_dict(), overrides, where, base.name)
    check_runnable(config, where, workers)
    return config


def check_runnable(config: Config, where: str, workers: int = 1) -> None:
    """The env can be made, the device exists and `workers` runs of the config fit in the memory
    available; errors name `where` (a preset, a run dir, a sweep flag)."""
    from cockpit.engine.envs import inspect_env  # gymnasium, not torch
    from cockpit.engine.resources import check_memory, check_replay, check_threads

    try:
        check_threads(config)
        info = inspect_env(config.env)
        check_device(config.run.device)
        check_replay(config, info.obs_shape, info.frame_stack)
        check_memory(config, info.obs_dim, info.n_actions, workers, info.obs_shape, info.frame_stack)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def check_device(device: str) -> None:
    """Refuse a device torch cannot use, before a run directory exists (imports torch only for cuda)."""
    if device == "cpu":
        return
    import torch

    index = int(device.partition(":")[2] or 0)
    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        found = torch.cuda.device_count() if torch.cuda.is_available() else 0
        raise ConfigError(
            f"run.device = {device!r}: not available here ({found} CUDA devices; expected 'cpu' or an existing cuda:N)"
        )


def run_dir_config(run_dir: Path) -> Config:
    """The resolved config a run directory was started with (its total_steps as last resumed)."""
    from cockpit.engine.history import read_config_tables, read_metadata

    tables = read_config_tables(run_dir)
    name = read_metadata(run_dir).get("preset", "custom")
    return build_config(tables, str(Path(run_dir) / "config.toml"), name=name)
