"""Bad input that used to escape the one-line promise (issue 16, item 7): a user's env module that
raises or exits on import, an env that raises before training, output files that cannot be written,
out-of-range `eval` flags, a run directory that cannot be locked, a run-dir path that is not UTF-8.

Each must give exit code 2, exactly one stderr line `cockpit: error: ...` naming what was wrong,
no traceback, and nothing written. All in-process through `cockpit.cli.main`.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from tiny import write_tiny_preset

from cockpit.cli import main

USER_ENV = """
import gymnasium as gym
from gymnasium.envs.classic_control import CartPoleEnv


class RaisesInInit(CartPoleEnv):
    def __init__(self, render_mode=None):
        raise ValueError("boom in __init__")


class RaisesInReset(CartPoleEnv):
    def reset(self, *, seed=None, options=None):
        raise ValueError("boom in reset")


gym.register(id=f"{__name__}/RaisesInInit-v0", entry_point=RaisesInInit)
gym.register(id=f"{__name__}/RaisesInReset-v0", entry_point=RaisesInReset)
"""
"""Registered under the module's own namespace, so that each test's copy has ids of its own."""

BROKEN_IMPORTS = {
    "raises": ('raise RuntimeError("broken at import")\n', "RuntimeError: broken at import (raised at {module}.py:1)"),
    "syntax": ("def f(:\n", "SyntaxError: invalid syntax (at {module}.py:1)"),
    "exits": ("import sys\nsys.exit(7)\n", "it called sys.exit(7)"),
}


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under `root` with its size and modification time: what "nothing written" compares."""
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in root.rglob("*")}


def one_error_line(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cockpit: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def user_modules(tmp_path, monkeypatch):
    """write(name, source): a module of the user's own on sys.path, as `env.id = "name:Env-v0"` needs."""
    folder = tmp_path / "modules"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))

    def write(name: str, source: str) -> str:
        (folder / f"{name}.py").write_text(source)
        monkeypatch.delitem(sys.modules, name, raising=False)
        return name

    return write


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """One tiny finished run: the checkpoint the `eval`, `compare` and `--resume` cases read."""
    root = tmp_path_factory.mktemp("bad_exits")
    preset = write_tiny_preset(
        root / "tiny.toml",
        dqn={"warmup_steps": 16, "buffer_size": 64},
        run={"total_steps": 64, "eval_freq": 32, "eval_episodes": 1, "log_interval": 32},
    )
    assert main([str(preset), "--no-ui", "--run-dir", str(root / "run")]) == 0
    return root / "run"


# ------------------------------------------------------------------ a user's env module
RUN_ARGV = {"run": ["--no-ui"], "ui": [], "check": [], "play": []}


def argv_of(command: str, preset: Path) -> list[str]:
    """The command on `preset`: a headless run, a UI run, `check` or `play`."""
    return [str(preset), *RUN_ARGV[command]] if command in ("run", "ui") else [command, str(preset)]


@pytest.mark.parametrize("command", ["run", "ui", "check", "play"])
@pytest.mark.parametrize("kind", list(BROKEN_IMPORTS))
def test_an_env_module_that_fails_to_import_is_bad_input(
    tmp_path, tiny_preset, user_modules, monkeypatch, capsys, command, kind
):
    source, expected = BROKEN_IMPORTS[kind]
    module = user_modules(f"broken_{kind}_{command}", source)
    monkeypatch.chdir(tmp_path)
    assert main([*argv_of(command, tiny_preset), "--set", f"env.id={module}:Foo-v0"]) == 2
    one_error_line(
        capsys, f"env.id = '{module}:Foo-v0'", f"importing module {module!r} failed", expected.format(module=module)
    )
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("command", ["run", "check", "play"])
def test_an_env_constructor_that_raises_is_bad_input(tmp_path, tiny_preset, user_modules, monkeypatch, capsys, command):
    module = user_modules(f"raises_in_init_{command}", USER_ENV)
    monkeypatch.chdir(tmp_path)
    assert main([*argv_of(command, tiny_preset), "--set", f"env.id={module}:{module}/RaisesInInit-v0"]) == 2
    one_error_line(
        capsys,
        f"env.id = '{module}:{module}/RaisesInInit-v0'",
        f"making the environment raised ValueError: boom in __init__ (raised at {module}.py:",
    )
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("command", ["run", "play"])
def test_an_env_whose_reset_raises_is_refused_before_the_run_starts(
    tmp_path, tiny_preset, user_modules, capsys, command
):
    module = user_modules(f"raises_in_reset_{command}", USER_ENV)
    run_dir = tmp_path / "new" / "folders" / "run"
    argv = [*argv_of(command, tiny_preset), "--set", f"env.id={module}:{module}/RaisesInReset-v0"]
    assert main(argv + (["--run-dir", str(run_dir)] if command == "run" else [])) == 2
    one_error_line(
        capsys, f"env.id = '{module}:{module}/RaisesInReset-v0'", f"ValueError: boom in reset (raised at {module}.py:"
    )
    assert not (tmp_path / "new").exists(), "the run directory goes, and the folders made for it"


def test_check_shows_an_env_whose_reset_raises_as_a_failed_check(tiny_preset, user_modules, capsys):
    module = user_modules("raises_in_reset_check", USER_ENV)
    assert main(["check", str(tiny_preset), "--set", f"env.id={module}:{module}/RaisesInReset-v0"]) == 1
    out = capsys.readouterr().out
    assert f"ValueError: boom in reset (raised at {module}.py:" in out and "Traceback" not in out


@pytest.mark.parametrize("command", ["run", "check", "play"])
def test_render_mode_in_env_kwargs_is_bad_input(tmp_path, tiny_preset, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)
    assert main([*argv_of(command, tiny_preset), "--set", 'env.kwargs={render_mode="human"}']) == 2
    one_error_line(capsys, "env.kwargs = {'render_mode': 'human'}: render_mode is cockpit's to set")
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------ eval and plots
PROC = pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")


@pytest.mark.parametrize(
    "target, fragment",
    [
        pytest.param("{tmp}", "is a directory", id="directory"),
        pytest.param("{tmp}/missing/episode.gif", "no folder", id="missing-folder"),
        pytest.param("/dev/null", "not a regular file", id="device"),
        pytest.param("/proc/episode.gif", "cannot write in '/proc'", id="proc", marks=PROC),
        pytest.param("/proc/self/status", "cannot write in '/proc/self'", id="proc-file", marks=PROC),
    ],
)
def test_eval_gif_that_cannot_be_written_is_refused_before_the_evaluation(
    finished_run, tmp_path, capsys, target, fragment
):
    gif = target.format(tmp=tmp_path)
    before, run_before = tree(tmp_path), tree(finished_run)
    assert main(["eval", str(finished_run), "--gif", gif]) == 2
    one_error_line(capsys, f"--gif {gif}: {fragment}")
    assert tree(tmp_path) == before and tree(finished_run) == run_before


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--seed", "-1"], "--seed -1: expected an integer in [0, 2**63)"),
        (["--seed", str(2**63)], f"--seed {2**63}: expected an integer in [0, 2**63)"),
        (["--episodes", "0"], "--episodes 0: expected an integer in [1, 100,000]"),
        (["--episodes", str(10**13)], f"--episodes {10**13}: expected an integer in [1, 100,000]"),
    ],
)
def test_eval_flags_out_of_range(finished_run, capsys, flags, fragment):
    assert main(["eval", str(finished_run), *flags]) == 2
    one_error_line(capsys, fragment)


def test_eval_gif_still_written_where_it_can_be(finished_run, tmp_path, capsys):
    gif = tmp_path / "episode.gif"
    assert main(["eval", str(finished_run), "--episodes", "1", "--gif", str(gif)]) == 0
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episode.gif"]


def test_eval_gif_of_an_env_without_frames_is_refused_before_the_evaluation(tmp_path, capsys):
    preset = write_tiny_preset(
        tmp_path / "corridor.toml",
        env={"id": "broken_envs:cockpit-tests/Corridor-v0"},
        dqn={"warmup_steps": 16, "buffer_size": 64},
        run={"total_steps": 64, "eval_freq": 32, "eval_episodes": 1, "log_interval": 32},
    )
    assert main([str(preset), "--no-ui", "--run-dir", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    gif = tmp_path / "episode.gif"
    assert main(["eval", str(tmp_path / "run"), "--gif", str(gif)]) == 2
    one_error_line(capsys, f"--gif {gif}: broken_envs:cockpit-tests/Corridor-v0 has no rgb_array rendering")
    assert not gif.exists()


@pytest.mark.parametrize(
    "target, fragment",
    [
        pytest.param("{tmp}/missing/compare.png", "no folder", id="missing-folder"),
        pytest.param("{tmp}", "is a directory", id="directory"),
    ],
)
def test_compare_png_that_cannot_be_written(finished_run, tmp_path, capsys, target, fragment):
    png = target.format(tmp=tmp_path)
    before = tree(tmp_path)
    assert main(["compare", str(finished_run), "--png", png]) == 2
    one_error_line(capsys, f"{png}: {fragment}")
    assert tree(tmp_path) == before


# ------------------------------------------------------------------ run directories
def test_resume_of_a_run_directory_that_cannot_be_locked(finished_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    (run_dir / ".lock").unlink()
    (run_dir / ".lock").mkdir()  # cannot be opened for writing, even by root
    before = tree(run_dir)
    assert main(["--resume", str(run_dir), "--no-ui", "--total-steps", "200"]) == 2
    one_error_line(capsys, f"{run_dir}: cannot lock the run directory", "expected a writable run directory")
    assert tree(run_dir) == before


def test_resume_of_a_read_only_run_directory(finished_run, tmp_path, capsys, monkeypatch):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    before = tree(run_dir)
    if os.geteuid() == 0:  # permission bits do not stop root: a read-only mount, as the probe sees it
        import tempfile

        def read_only(*args, **kwargs):
            raise OSError(30, "Read-only file system")

        monkeypatch.setattr(tempfile, "mkstemp", read_only)
    else:
        for path in [run_dir, *run_dir.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
    try:
        assert main(["--resume", str(run_dir), "--no-ui", "--total-steps", "200"]) == 2
    finally:
        for path in [run_dir, *run_dir.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
    one_error_line(capsys, str(run_dir), "expected a writable run directory")
    assert tree(run_dir) == before


def test_a_run_dir_path_that_is_not_utf8(tmp_path, tiny_preset, capsys):
    run_dir = os.fsdecode(os.fsencode(tmp_path) + b"/runs/\xff")
    assert main([str(tiny_preset), "--no-ui", "--run-dir", run_dir]) == 2
    one_error_line(capsys, "--run-dir", "\\xff", "not valid UTF-8")
    assert not (tmp_path / "runs").exists()
