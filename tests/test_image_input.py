"""Bad image input through the real commands (run, check, play): an image layout cockpit cannot read
names the shape it got, an Atari id without the atari extra names the extra; one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import catch_env
import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
COMMANDS = ("run", "check", "play")


def catch_preset(tmp_path: Path) -> Path:
    preset = tmp_path / "catch.toml"
    preset.write_text(f'[env]\nid = "catch_env:{catch_env.ENV_ID}"\n[dqn]\n[run]\ntotal_steps = 200\n')
    return preset


def cockpit(tmp_path: Path, command: str, preset: Path, *args: str, pythonpath: str = str(TESTS)):
    """`cockpit PRESET --no-ui` for "run", else `cockpit COMMAND PRESET`, with `args` after."""
    words = [str(preset), "--no-ui", "--run-dir", str(tmp_path / "run")] if command == "run" else [command, str(preset)]
    env = {**os.environ, "PYTHONPATH": pythonpath}
    argv = [sys.executable, "-m", "cockpit", *words, *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)


def one_line_error(done: subprocess.CompletedProcess, tmp_path: Path) -> str:
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "run").exists()
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_an_image_whose_channels_cannot_be_told_names_its_shape(tmp_path, command):
    done = cockpit(tmp_path, command, catch_preset(tmp_path), "--set", 'env.kwargs={layout="chw", size=3}')
    line = one_line_error(done, tmp_path)
    assert "image observation of shape (3, 3, 3): both its first and last axes could hold the channels" in line
    assert line.endswith("(expected env.channels_first = true for (C, H, W) or false for (H, W, C))")


def test_channels_first_on_an_image_without_them_there_names_its_shape(tmp_path):
    args = ("--set", 'env.kwargs={layout="hwc"}', "--set", "env.channels_first=true")
    line = one_line_error(cockpit(tmp_path, "check", catch_preset(tmp_path), *args), tmp_path)
    assert "image observation of shape (10, 10, 3), env.channels_first = true: its first axis has more than 4" in line


@pytest.mark.parametrize("command", ["check", "play"])
def test_atari_without_the_extra_names_the_extra(tmp_path, command):
    fake = tmp_path / "fake" / "ale_py"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError(\"No module named 'ale_py'\")\n")
    done = cockpit(tmp_path, command, REPO / "presets" / "pong.toml", pythonpath=str(fake.parent))
    line = one_line_error(done, tmp_path)
    assert "env.id = 'ALE/Pong-v5': Atari needs cockpit's atari extra" in line
    assert line.endswith("pip install 'cockpit[atari]'")
