"""Shared fixtures: small presets written into the test's tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_PRESET = """\
[env]
id = "CartPole-v1"

[dqn]
learning_rate = 1e-3
batch_size = 8
buffer_size = 64
warmup_steps = 16
target_update = 10
hidden_size = 8
hidden_layers = 1

[run]
seed = 1
total_steps = 64
eval_freq = 32
eval_episodes = 1
log_interval = 32
"""


@pytest.fixture
def write_preset(tmp_path: Path):
    """write_preset(text, name="preset.toml") -> the path of a preset file holding `text`."""

    def write(text: str | bytes, name: str = "preset.toml") -> Path:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def tiny_preset(write_preset) -> Path:
    """A valid, tiny CartPole preset (a few dozen steps, a one-layer 8-unit MLP)."""
    return write_preset(TINY_PRESET, "tiny.toml")
