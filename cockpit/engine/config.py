"""Presets: TOML files with `[env]`, `[dqn]` and `[run]` tables (and optionally `[alerts]`
thresholds), loaded into frozen dataclasses, one per table, with a docstring per field
(docs/configuration.md is generated from them).

Stdlib only, so that a bad preset is reported before torch (or gymnasium) is imported. What each key
accepts, and the one-line `ConfigError` a bad value gets, is in config_values.py; the CLI prints the
error and exits 2.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cockpit.engine.config_values import (
    SHARE_KEYS,
    ConfigError,
    check_value,
    field_types,
    parse_override,
    read_toml,
    resolve_share,
    unknown_key,
)


@dataclass(frozen=True)
class EnvConfig:
    """The environment: which one, its time limit, and what is done to its observations and rewards
    before the agent sees them (returns are always logged raw)."""

    id: str = "CartPole-v1"
    """Any id `gymnasium.make` accepts, including `module:EnvName-v0` (imports the user's module)."""
    kwargs: dict = field(default_factory=dict)
    """Keyword arguments passed to `gymnasium.make`."""
    max_episode_steps: int = 0
    """Time limit in steps (truncation); 0 keeps the env spec's own limit."""
    target_return: float = math.nan
    """Evaluation mean that counts as solved; NaN (absent) takes the env spec's `reward_threshold`."""
    normalize_obs: bool = False
    """Normalize observations with a running mean/std (frozen during evaluation)."""
    clip_reward: float = 0.0
    """Clip training rewards to [-clip_reward, clip_reward]; 0 turns clipping off. Logs stay raw."""
    reward_abs_max: float = 0.0
    """Largest |reward| per step, the symmetric shorthand for reward_min/reward_max; 0 measures them."""
    reward_min: float = math.nan
    """Smallest reward per step, for the range Q must stay in; absent (NaN) measures it from random rollouts."""
    reward_max: float = math.nan
    """Largest reward per step, likewise."""
    frame_stack: int = 1
    """Image observations: the last N frames stacked along the channel axis (1 = no stacking)."""
    channels_first: bool | None = None
    """Image observations whose first and last axes are both of size <= 4: true for (C, H, W), false
    for (H, W, C); absent (the default) such a shape is refused rather than guessed."""
    frame_skip: int = 4
    """Atari (`ALE/` ids): emulator frames per agent step, the observation max-pooled over the last two."""
    noop_max: int = 30
    """Atari: up to this many no-op steps at reset (a random start); 0 turns it off."""
    screen_size: int = 84
    """Atari: frames resized to screen_size x screen_size."""
    grayscale: bool = True
    """Atari: grayscale frames (one channel) instead of RGB."""
    terminal_on_life_loss: bool = False
    """Atari: a lost life ends the episode for learning only (the TD target does not bootstrap through it;
    `info["life_lost"]`); the game, and the logged return, go on."""
    fire_reset: bool = True
    """Atari: press FIRE on reset and after a lost life, in games whose action meanings include FIRE
    (several do not start until it is pressed)."""
    repeat_action_probability: float = 0.25
    """Atari: sticky actions, the chance the emulator repeats the previous action (ALE v5's default;
    0 is the older DQN protocol)."""


@dataclass(frozen=True)
class DQNConfig:
    """The agent: the Q-network's shape, the replay buffer, exploration and the update."""

    learning_rate: float = 3e-4
    """Adam step size."""
    batch_size: int = 64
    """Transitions per gradient step."""
    gamma: float = 0.99
    """Discount factor."""
    epsilon_start: float = 1.0
    """Exploration rate at step 0."""
    epsilon_end: float = 0.01
    """Exploration rate at the end of the linear decay."""
    epsilon_decay: int = 10_000
    """Steps of linear decay from epsilon_start to epsilon_end, or a share of run.total_steps ("10%"),
    turned into steps once as the run starts (after --total-steps) and written so to config.toml: a
    resume with a larger --total-steps keeps those steps. A live change takes either form; its
    percentage is of the run's total_steps at the time."""
    buffer_size: int = 10_000
    """Replay buffer capacity in transitions."""
    target_update: int = 100
    """Env steps between hard copies of the online network into the target network."""
    hidden_size: int = 128
    """Units per hidden layer of the MLP."""
    hidden_layers: int = 2
    """Number of hidden layers of the MLP."""
    warmup_steps: int = 1_000
    """Random-action steps that fill the buffer before the first update (SB3's learning_starts)."""
    train_freq: int = 1
    """Env steps between training phases."""
    gradient_steps: int = 1
    """Gradient steps per training phase."""
    loss: str = "huber"
    """TD loss: `huber` (smooth L1, as SB3) or `mse` (as CleanRL)."""
    max_grad_norm: float = 10.0
    """Clip the global gradient norm to this; 0 turns clipping off."""
    double_dqn: bool = False
    """Select the next action with the online network, evaluate it with the target network."""
    network: str = "auto"
    """Q-network: `mlp` (vectors), `nature_cnn` (the DQN paper's convolutions, images of 36x36 or more),
    `small_cnn` (MinAtar's one 3x3 convolution, for small images), or `auto` (chosen from the observation)."""


@dataclass(frozen=True)
class RunConfig:
    """The run around the agent: its seed and length, evaluations, logging, checkpoints and the
    machine it computes on."""

    seed: int = 1
    """Seeds python, numpy, torch, the env's resets and its action space."""
    total_steps: int = 50_000
    """Env steps to train for."""
    eval_freq: int = 1_000
    """Env steps between scheduled greedy evaluations."""
    eval_episodes: int = 10
    """Episodes per greedy evaluation."""
    log_interval: int = 1_000
    """Env steps between aggregated metric lines (mean/min/max) in metrics.jsonl and TensorBoard, and
    between headless progress lines when stdout is a file or pipe. Figures are taken every 100 steps, so
    each line falls at the first multiple of 100 at or after a multiple of log_interval."""
    threads: int = 1
    """torch intra-op threads; one beats several for small networks."""
    device: str = "cpu"
    """torch device: `cpu` or `cuda[:N]`."""
    checkpoint_keep: int = 3
    """Periodic checkpoints kept (plus `best` and every on-demand one)."""
    checkpoint_disk_gb: float = 10.0
    """Disk (GB) for the image replay that only pinned, on-demand and earlier stop checkpoints still
    refer to; beyond it the oldest of them keep weights, optimizer and counters only (not exact)."""
    compute: str = "fast"
    """The update's compute path: `fast` (hand-derived backward of the MLP, checked against autograd)
    or `autograd`. Bitwise reproducibility holds per path; the metadata records which ran."""
    eval_epsilon: float = 0.0
    """Exploration rate of evaluation episodes: 0 is greedy; Atari evaluates at 0.05 (a fully greedy
    policy can stall a game forever)."""

    @property
    def compute_path(self) -> str:
        """What `DQNAgent.compute_path` reports for an MLP where the fast update passes its check, known
        before torch is loaded (for the metadata; the trainer amends it where the agent took the
        reference update instead). Both devices have fused Adam."""
        return f"{self.compute}/{self.device.split(':')[0]}/fused-adam"


@dataclass(frozen=True)
class AlertsConfig:
    """Thresholds of the live health alerts (cockpit/engine/alerts.py); docs/alerts.md says what each
    alert watches, and docs/benchmarks.md the calibration behind the defaults."""

    grad_spike_factor: float = 8.0
    """Alert when the gradient norm lies this many robust scales (MADs, of its logarithm over the
    last 100 intervals) above its median ..."""
    loss_spike_factor: float = 30.0
    """... or the loss does (exploding; a healthy MSE loss without clipping is heavy-tailed) ..."""
    spike_persistence: int = 3
    """... for this many publish intervals (of 100 steps) in a row."""
    change_spike_factor: float = 3.0
    """Within change_watch_steps after a live change, loss and gradient norm alert at this many MADs:
    the change is the likely cause, and the user is waiting to see its effect."""
    change_watch_steps: int = 2_000
    """How long after a live change its effect on loss and gradient norm is watched closely."""
    q_bound_factor: float = 4.0
    """Alert when mean or max Q leaves the range any return can take, [min(r_min, 0), max(r_max, 0)]/(1-γ),
    by more than (this - 1) times the range's width."""
    q_zero_fraction: float = 0.01
    """Alert when |mean Q| stays under this fraction of the largest return's size ..."""
    q_zero_after_steps: int = 5_000
    """... this many steps after warm-up (not learning)."""
    no_reward_steps: int = 2_000
    """Alert when no step has been rewarded for this many steps, where random play was."""
    frozen_intervals: int = 10
    """Alert when the weights have not changed (or the gradient vanished) for this many intervals of updates."""
    exploration_floor: float = 0.001
    """Alert when epsilon is at most this after warm-up, before the target is reached (no exploration)."""
    collapse_action_share: float = 0.95
    """Alert when one action takes more than this share of recent steps ..."""
    collapse_min_epsilon: float = 0.5
    """... while epsilon is at least this (exploration collapse)."""
    entropy_floor: float = 0.1
    """Alert when the action entropy falls under this fraction of its maximum before epsilon's end."""
    no_progress_fraction: float = 0.2
    """Alert when greedy evaluation has not improved on its first value, by progress_margin of the way to the
    target, this fraction of run.total_steps after warm-up ..."""
    no_progress_after_steps: int = 0
    """... or after this many steps, where not 0 (for envs whose first reward takes long to find)."""
    progress_margin: float = 0.1
    """What counts as progress: this share of the way from the first evaluation to the target."""
    flat_after_steps: int = 20_000
    """Alert when greedy evaluation has not improved for this many steps after epsilon's end ..."""
    flat_tolerance: float = 0.05
    """... by more than this share of the way from its first value to the target (and it is below the target)."""
    muted: list = field(default_factory=list)
    """Alert kinds not shown (still counted in summary.json), e.g. ["grad_spike"]; live: the m key, `ctl mute`."""
    on_non_finite: str = "default"
    """NaN/Inf in loss, Q or gradients: `pause` (the UI's default), `stop` (headless default: the last
    full checkpoint before it is the last good state), or `default` (the front end decides)."""


@dataclass(frozen=True)
class Config:
    env: EnvConfig = field(default_factory=EnvConfig)
    dqn: DQNConfig = field(default_factory=DQNConfig)
    run: RunConfig = field(default_factory=RunConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    name: str = "custom"
    """Preset name (the file's stem), used in run directory names."""

    def replace(self, table: str, **changes: Any) -> Config:
        return dataclasses.replace(self, **{table: dataclasses.replace(getattr(self, table), **changes)})

    def to_dict(self) -> dict:
        return {t: dataclasses.asdict(getattr(self, t)) for t in TABLES}


TABLES: dict[str, type] = {"env": EnvConfig, "dqn": DQNConfig, "run": RunConfig, "alerts": AlertsConfig}

# Hyperparameters a running trainer accepts through the control surface.
LIVE_KEYS = (
    "learning_rate",
    "epsilon_end",
    "epsilon_decay",
    "gamma",
    "batch_size",
    "target_update",
    "train_freq",
    "gradient_steps",
    "max_grad_norm",
)


def build_config(tables: dict, where: str, name: str = "custom", cross_checks: bool = True) -> Config:
    """Validate raw TOML-like tables into a Config; `where` names the source in error messages."""
    all_keys = [f"{t}.{f.name}" for t, cls in TABLES.items() for f in dataclasses.fields(cls)]
    parts = {}
    shares: dict[str, str] = {}
    for table, value in tables.items():
        if table not in TABLES:
            raise unknown_key(where, f"[{table}]", [f"[{t}]" for t in TABLES])
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: {table} = {value!r}: expected a table [{table}]")
    for table, cls in TABLES.items():
        types = field_types(cls)
        values = {}
        for key, value in tables.get(table, {}).items():
            path = f"{table}.{key}"
            if key not in types:
                raise unknown_key(where, path, all_keys)
            if path in SHARE_KEYS and isinstance(value, str):
                shares[path] = value  # resolved once run.total_steps is known
                continue
            values[key] = check_value(where, path, value, types[key])
        parts[table] = cls(**values)
    for path, share in shares.items():
        table, _, key = path.partition(".")
        steps = resolve_share(where, path, share, parts["run"].total_steps)
        parts[table] = dataclasses.replace(parts[table], **{key: steps})
    config = Config(name=name, **parts)
    if cross_checks:
        check_consistency(config, where)
    return config


def check_consistency(config: Config, where: str) -> None:
    """Rules that involve more than one key."""
    e = config.env
    if e.reward_min > e.reward_max:  # False when either is NaN (absent)
        raise ConfigError(
            f"{where}: env.reward_min = {e.reward_min:g}: expected at most env.reward_max ({e.reward_max:g})"
        )
    d = config.dqn
    if d.batch_size > d.buffer_size:
        raise ConfigError(
            f"{where}: dqn.batch_size = {d.batch_size}: expected at most dqn.buffer_size ({d.buffer_size})"
        )


def load_preset(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read a preset file and apply `--set` overrides; raises ConfigError with a one-line message."""
    path = Path(path)
    missing = f"{path}: no such preset file (expected a TOML file with [env], [dqn], [run])"
    tables = read_toml(path, str(path), "a TOML preset file", missing=missing)
    config = build_config(tables, str(path), name=path.stem)
    if not overrides:
        return config
    config = apply_overrides(tables, overrides, str(path), path.stem)
    if config.env.id != tables.get("env", {}).get("id", EnvConfig.id):
        # The preset's name no longer describes the run: marked, not dropped, so that its origin shows.
        config = dataclasses.replace(config, name=f"from-{path.stem}")
    return config


def apply_overrides(tables: dict, overrides: Sequence[str], where: str, name: str) -> Config:
    """Apply `--set` overrides in order; each is checked alone, rules across keys once at the end
    (so `--set dqn.buffer_size=32 --set dqn.batch_size=16` works in either order)."""
    tables = {t: dict(v) if isinstance(v, dict) else v for t, v in tables.items()}
    for text in overrides:
        table, key, value = parse_override(text)
        tables.setdefault(table, {})
        if not isinstance(tables[table], dict):
            raise ConfigError(f"{where}: {table} = {tables[table]!r}: expected a table [{table}]")
        tables[table][key] = value
        build_config(tables, f"{where} --set {text}", name=name, cross_checks=False)
    return build_config(tables, f"{where} --set {' --set '.join(overrides)}", name=name)


def validate_live_change(config: Config, key: str, value: Any) -> Any:
    """Check a live hyperparameter change like the config itself; returns the coerced value."""
    if key not in LIVE_KEYS:
        close = difflib.get_close_matches(key, LIVE_KEYS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"{key}: not live-adjustable{hint}; expected one of {', '.join(LIVE_KEYS)}")
    where = "live change"
    if f"dqn.{key}" in SHARE_KEYS and isinstance(value, str):
        value = resolve_share(where, f"dqn.{key}", value, config.run.total_steps)
    value = check_value(where, f"dqn.{key}", value, field_types(DQNConfig)[key])
    check_consistency(config.replace("dqn", **{key: value}), where)
    return value


def to_toml(config: Config) -> str:
    """The resolved config as TOML (the run directory's config.toml); loads back as a preset."""
    import tomli_w

    tables = {t: {k: v for k, v in values.items() if v is not None} for t, values in config.to_dict().items()}
    return f"# resolved config of preset {config.name}\n" + tomli_w.dumps(tables)
