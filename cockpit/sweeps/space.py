"""What a tune varies: `--param KEY=V1,V2,...` (one factor, given values) and `--search KEY=SPEC`
(an Optuna dimension). Stdlib only: bad input is a one-line ConfigError before anything starts.

Every value is checked exactly as a preset's would be (type, range, rules across keys), so a
sweep never launches runs that would die on their first line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cockpit.engine.config import Config, ConfigError, build_config, parse_override
from cockpit.presets import check_runnable, toml_value

FIXED = {"run.seed": "the seeds are what every setting shares (use --seeds / --first-seed)"}


def short(value: Any) -> str:
    """A value for people: 4 significant digits for floats (the run itself gets every digit)."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def override(key: str, value: Any) -> str:
    return f"{key}={toml_value(value)}"


def check(base: Config, key: str, value: Any, where: str) -> Any:
    """The value as the config would hold it (1 -> 1.0 for a float key), or a ConfigError."""
    table, _, name = key.partition(".")
    tables = base.to_dict()
    tables.setdefault(table, {})
    if not isinstance(tables[table], dict):
        raise ConfigError(f"{where}: {table} is not a table")
    tables[table] = {**tables[table], name: value}
    config = build_config(tables, where, name=base.name)
    if table == "env" or key == "run.device":  # refused now, as a single run would, not in a child later
        check_runnable(config, where)
    return config.to_dict()[table][name]


def split_key(text: str, flag: str) -> tuple[str, str]:
    """`TABLE.KEY=REST` -> ("TABLE.KEY", "REST"), refusing keys a sweep must not vary."""
    key, sep, rest = text.partition("=")
    key = key.strip()
    if not sep or "." not in key or not rest.strip():
        raise ConfigError(f"{flag} {text!r}: expected TABLE.KEY=..., e.g. {flag} dqn.learning_rate=1e-4,1e-3")
    if key in FIXED:
        raise ConfigError(f"{flag} {text!r}: {key} cannot be tuned: {FIXED[key]}")
    return key, rest.strip()


def parse_values(key: str, text: str, flag: str, where: str) -> list[str]:
    """`1e-4,1e-3` -> the values' TOML texts, each read as `--set` would read it."""
    items = [item.strip() for item in text.split(",")]
    if any(not item for item in items):
        raise ConfigError(f"{where}: malformed value list {text!r} (expected comma-separated values, e.g. 1e-4,1e-3)")
    return [parse_override(f"{key}={item}")[2] for item in items]


@dataclass(frozen=True)
class Param:
    """The one factor of a one-factor sweep and the values it takes."""

    key: str
    values: tuple

    def overrides(self) -> list[str]:
        return [override(self.key, v) for v in self.values]


def parse_param(texts: list[str], base: Config) -> Param:
    if len(texts) != 1:
        keys = ", ".join(t.partition("=")[0] for t in texts)
        raise ConfigError(
            f"--param given {len(texts)} times ({keys}): a one-factor sweep changes exactly one "
            "hyperparameter, everything else fixed; use --search for several at once"
        )
    text = texts[0]
    key, rest = split_key(text, "--param")
    where = f"--param {text}"
    values = [check(base, key, v, where) for v in parse_values(key, rest, "--param", where)]
    if len(values) < 2:
        raise ConfigError(f"{where}: expected at least two values to compare, e.g. {key}={rest},...")
    if len(set(map(repr, values))) != len(values):
        raise ConfigError(f"{where}: a value is repeated")
    return Param(key, tuple(values))


@dataclass(frozen=True)
class Dimension:
    """One axis of an Optuna search: a numeric range (log-scaled or not) or a list of choices."""

    key: str
    kind: str
    """`float`, `int` or `categorical`."""
    low: float = math.nan
    high: float = math.nan
    log: bool = False
    choices: tuple = ()

    def suggest(self, trial) -> Any:
        if self.kind == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log)
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log)
        return trial.suggest_categorical(self.key, list(self.choices))

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"{self.key} ∈ {{{', '.join(map(str, self.choices))}}}"
        return f"{self.key} ∈ [{self.low:g}, {self.high:g}]{' log' if self.log else ''}"


def parse_search(texts: Sequence[str], base: Config) -> list[Dimension]:
    """`--search dqn.learning_rate=log:1e-5:1e-2`, `--search dqn.batch_size=32,64,128`, `--search dqn.gamma=0.9:0.999`."""
    dims: list[Dimension] = []
    for text in texts:
        key, spec = split_key(text, "--search")
        where = f"--search {text}"
        if key in (d.key for d in dims):
            raise ConfigError(f"{where}: {key} is searched twice")
        if "," in spec:
            choices = [check(base, key, v, where) for v in parse_values(key, spec, "--search", where)]
            if len(set(map(repr, choices))) != len(choices):
                raise ConfigError(f"{where}: a choice is repeated")
            dims.append(Dimension(key, "categorical", choices=tuple(choices)))
            continue
        parts = spec.split(":")
        log = parts[0] == "log"
        bounds = parts[1:] if log else parts
        if len(bounds) != 2:
            raise ConfigError(f"{where}: expected LOW:HIGH, log:LOW:HIGH or a comma-separated list of choices")
        low, high = (parse_override(f"{key}={b}")[2] for b in bounds)
        current = check(base, key, low, where) if isinstance(low, (int, float)) and not isinstance(low, bool) else None
        if current is None or isinstance(current, bool) or not isinstance(current, (int, float)):
            raise ConfigError(f"{where}: a range needs numeric bounds on a numeric key (got {bounds[0]!r})")
        low, high = current, check(base, key, high, where)
        if not low < high:
            raise ConfigError(f"{where}: expected LOW < HIGH (got {low!r} and {high!r})")
        if log and low <= 0:
            raise ConfigError(f"{where}: a log range needs LOW > 0 (got {low!r})")
        dims.append(Dimension(key, "int" if isinstance(low, int) else "float", low, high, log))
    if not dims:
        raise ConfigError("--search: expected at least one TABLE.KEY=SPEC")
    return dims
