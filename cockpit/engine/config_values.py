"""What each preset key accepts, and reading the text it comes in: types and ranges per key, shares
of the run ("10%"), `--set TABLE.KEY=VALUE`, TOML files. Every failure is a `ConfigError` whose
message is one line naming the source, the key, the value and what was expected.

Stdlib only, and free of the config's dataclasses (config.py builds them from these checks), so that
tools reading JSON and TOML of their own (history, checkpoints) check values the same way.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A preset, an override or a live change that cannot be used; the message is one line."""


def is_int(value: Any) -> bool:
    """An integer from JSON or TOML (where true and false are not numbers)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite number from JSON or TOML: what cockpit writes (NaN and inf go to files as null)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive(v: float) -> bool:
    return v > 0


def _non_negative(v: float) -> bool:
    return v >= 0


def _probability(v: float) -> bool:
    return 0.0 <= v <= 1.0


MAX_LEARNING_RATE = 10.0
"""Far above any step size that trains; a larger one is a typo (1e308 overflows Adam at once)."""

NETWORKS = ("auto", "mlp", "nature_cnn", "small_cnn")
"""The values of dqn.network (cockpit/engine/networks.py builds them)."""

SHARE_KEYS = ("dqn.epsilon_decay",)
"""Step counts that may be given as a share of run.total_steps, a string such as "10%"."""

SHARE_EXPECTED = 'a share of run.total_steps in (0%, 100%], e.g. "10%"'


def resolve_share(where: str, key: str, value: str, total_steps: int) -> int:
    """A share of the run such as "10%" as a number of steps (at least 1)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*", value)
    percent = float(match.group(1)) if match else math.nan
    if not 0 < percent <= 100:  # False for NaN
        raise ConfigError(f"{where}: {key} = {value!r}: expected an integer > 0 or {SHARE_EXPECTED}")
    return max(1, round(total_steps * percent / 100))


ALERT_KINDS: tuple[str, ...] = (
    "non_finite",
    "loss_spike",
    "grad_spike",
    "q_out_of_range",
    "q_near_zero",
    "no_reward",
    "no_learning_signal",
    "no_exploration",
    "action_collapse",
    "low_entropy",
    "no_progress",
    "flat_return",
)
"""Every alert (cockpit/engine/alerts.py), in the order of the debugging hierarchy's concerns."""


# (test, what was expected) per key; types come from the dataclass annotations.
RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "env.id": (lambda v: bool(v.strip()), "a non-empty gymnasium id"),
    "env.max_episode_steps": (_non_negative, "an integer >= 0 (0 keeps the env's limit)"),
    "env.clip_reward": (_non_negative, "a number >= 0 (0 turns clipping off)"),
    "env.reward_abs_max": (_non_negative, "a number >= 0 (0 measures it)"),
    "env.frame_stack": (_positive, "an integer > 0 (1: no stacking)"),
    "env.frame_skip": (_positive, "an integer > 0"),
    "env.noop_max": (_non_negative, "an integer >= 0 (0: no no-op starts)"),
    "env.screen_size": (_positive, "an integer > 0"),
    "env.repeat_action_probability": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "dqn.learning_rate": (lambda v: 0 < v <= MAX_LEARNING_RATE, f"a number in (0, {MAX_LEARNING_RATE:g}]"),
    "dqn.batch_size": (_positive, "an integer > 0"),
    "dqn.gamma": (lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "dqn.epsilon_start": (_probability, "a number in [0, 1]"),
    "dqn.epsilon_end": (_probability, "a number in [0, 1]"),
    "dqn.epsilon_decay": (_positive, f"an integer > 0 or {SHARE_EXPECTED}"),
    "dqn.buffer_size": (_positive, "an integer > 0"),
    "dqn.target_update": (_positive, "an integer > 0"),
    "dqn.hidden_size": (_positive, "an integer > 0"),
    "dqn.hidden_layers": (_positive, "an integer > 0"),
    "dqn.warmup_steps": (_non_negative, "an integer >= 0"),
    "dqn.train_freq": (_positive, "an integer > 0"),
    "dqn.gradient_steps": (_positive, "an integer > 0"),
    "dqn.loss": (lambda v: v in ("huber", "mse"), "one of 'huber', 'mse'"),
    "dqn.max_grad_norm": (_non_negative, "a number >= 0 (0 turns clipping off)"),
    "dqn.network": (
        lambda v: v in NETWORKS,
        f"one of {', '.join(repr(n) for n in NETWORKS)}",
    ),
    "run.seed": (lambda v: 0 <= v < 2**63, "an integer in [0, 2**63)"),
    "run.total_steps": (_positive, "an integer > 0"),
    "run.eval_freq": (_positive, "an integer > 0"),
    "run.eval_episodes": (_positive, "an integer > 0"),
    "run.log_interval": (_positive, "an integer > 0"),
    "run.threads": (_positive, "an integer > 0"),
    "run.device": (lambda v: re.fullmatch(r"cpu|cuda(:\d+)?", v) is not None, "'cpu' or 'cuda[:N]'"),
    "run.checkpoint_keep": (_positive, "an integer > 0"),
    "run.checkpoint_disk_gb": (_non_negative, "a number of GB >= 0"),
    "run.compute": (lambda v: v in ("fast", "autograd"), "one of 'fast', 'autograd'"),
    "run.eval_epsilon": (_probability, "a number in [0, 1]"),
    "alerts.grad_spike_factor": (_positive, "a number of MADs > 0"),
    "alerts.loss_spike_factor": (_positive, "a number of MADs > 0"),
    "alerts.spike_persistence": (_positive, "an integer > 0"),
    "alerts.change_spike_factor": (_positive, "a number of MADs > 0"),
    "alerts.change_watch_steps": (_non_negative, "an integer >= 0 (0: no closer watch)"),
    "alerts.q_bound_factor": (lambda v: v >= 1, "a number >= 1 (1: the range itself)"),
    "alerts.no_reward_steps": (_positive, "an integer > 0"),
    "alerts.frozen_intervals": (_positive, "an integer > 0"),
    "alerts.exploration_floor": (_probability, "a number in [0, 1]"),
    "alerts.no_progress_fraction": (_probability, "a number in [0, 1]"),
    "alerts.no_progress_after_steps": (_non_negative, "an integer >= 0 (0: no_progress_fraction of the run)"),
    "alerts.progress_margin": (_probability, "a number in [0, 1]"),
    "alerts.muted": (
        lambda v: all(isinstance(k, str) and k in ALERT_KINDS for k in v),
        'a list of alert kinds, e.g. ["grad_spike"]',
    ),
    "alerts.q_zero_fraction": (_non_negative, "a number >= 0"),
    "alerts.q_zero_after_steps": (_non_negative, "an integer >= 0"),
    "alerts.collapse_action_share": (_probability, "a number in [0, 1]"),
    "alerts.collapse_min_epsilon": (_probability, "a number in [0, 1]"),
    "alerts.entropy_floor": (_probability, "a number in [0, 1]"),
    "alerts.flat_after_steps": (_positive, "an integer > 0"),
    "alerts.flat_tolerance": (_non_negative, "a number >= 0"),
    "alerts.on_non_finite": (lambda v: v in ("default", "pause", "stop"), "one of 'default', 'pause', 'stop'"),
}


NAN_MEANS_ABSENT = ("env.target_return", "env.reward_min", "env.reward_max")
"""Float keys whose NaN default means "not given" (TOML has nan, and the resolved config writes it)."""

NONE_MEANS_ABSENT = ("env.channels_first",)
"""Keys whose None default means "not given": TOML has no null, so the resolved config leaves them out."""


def field_types(cls: type) -> dict[str, type]:
    names = {"str": str, "int": int, "float": float, "bool": bool, "bool | None": bool, "dict": dict, "list": list}
    return {f.name: names[str(f.type)] for f in dataclasses.fields(cls)}


def check_value(where: str, key: str, value: Any, expected_type: type) -> Any:
    """Type-check and range-check one value; returns it coerced (int -> float where a float is expected)."""

    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{where}: {key} = {value!r}: expected {expected}")

    if value is None and key in NONE_MEANS_ABSENT:  # from a resolved config's JSON (metadata), not TOML
        return None
    if expected_type is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
        value = float(value)
        if math.isinf(value) or (math.isnan(value) and key not in NAN_MEANS_ABSENT):
            raise fail("a finite number")
    elif expected_type is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
    elif not isinstance(value, expected_type):
        raise fail({str: "a string", bool: "true or false", dict: "a table", list: "a list"}[expected_type])
    check = RANGES.get(key)
    if check and not check[0](value):
        raise fail(check[1])
    return value


def unknown_key(where: str, key: str, known: list[str]) -> ConfigError:
    key = key if key.isprintable() else repr(key)
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(sorted(known))})"
    return ConfigError(f"{where}: unknown key {key}{hint}")


def parse_override(text: str) -> tuple[str, str, Any]:
    """`TABLE.KEY=VALUE` -> (table, key, value); VALUE is read as TOML, else taken as a string."""
    path, sep, raw = text.partition("=")
    table, dot, key = path.strip().partition(".")
    if not sep or not dot or not key:
        raise ConfigError(f"--set {text!r}: expected TABLE.KEY=VALUE, e.g. dqn.learning_rate=1e-3")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return table, key, value


def read_toml(path: Path, where: str, expected: str, *, missing: str = "") -> dict:
    """A TOML file's tables; each way reading it can fail is one line naming `where` and what was
    `expected` (`missing`, where given, is the whole message for a file that is not there)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(missing or f"{where}: no such file (expected {expected})") from None
    except IsADirectoryError:
        raise ConfigError(f"{where}: is a directory (expected {expected})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text (expected {expected})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}: malformed TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{where}: cannot read ({e.strerror}) (expected {expected})") from None
