"""Tiny presets for tests: long enough to pass warm-up, several target syncs and time-limit truncations."""

from __future__ import annotations

from pathlib import Path

from cockpit.engine.config import Config, build_config, to_toml

TINY = {
    "env": {"id": "CartPole-v1", "max_episode_steps": 30},
    "dqn": {
        "hidden_size": 32,
        "buffer_size": 400,
        "batch_size": 16,
        "warmup_steps": 100,
        "target_update": 50,
        "epsilon_decay": 300,
        "learning_rate": 1e-3,
    },
    "run": {"total_steps": 600, "eval_freq": 200, "eval_episodes": 2, "log_interval": 100, "seed": 7},
}


def tiny_config(**tables: dict) -> Config:
    merged = {t: {**TINY.get(t, {}), **tables.get(t, {})} for t in ("env", "dqn", "run", "alerts")}
    return build_config(merged, "tiny", name="tiny")


def write_tiny_preset(path: Path, **tables: dict) -> Path:
    path.write_text(to_toml(tiny_config(**tables)))
    return path
