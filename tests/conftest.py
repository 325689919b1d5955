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


SHARED = ("finished_run", "pristine", "changed_run", "seeds_sweep")
"""Module-scoped fixtures that build a run (or a sweep) once for the tests that only read it."""


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under `root` with its size and modification time."""
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in root.rglob("*")}


@pytest.fixture(autouse=True)
def shared_runs_stay_as_found(request):
    """A test that wrote into a shared run (instead of a copy of its own) fails here, so that no test
    depends on which ran before it, nor on how pytest-xdist shares the module between workers."""
    roots = []
    for name in SHARED:
        if name in request.fixturenames:
            value = request.getfixturevalue(name)
            roots += [v for v in (value if isinstance(value, tuple) else (value,)) if isinstance(v, Path)]
    before = {root: tree_state(root) for root in roots}
    yield
    for root, state in before.items():
        assert tree_state(root) == state, f"{root}: changed by a test that shares it; copy it first"


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
