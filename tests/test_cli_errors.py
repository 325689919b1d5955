"""Input errors through the real `cockpit` command, in a subprocess whose cwd is tmp_path.

Every refused input must give exit code 2, exactly one stderr line `cockpit: error: ...` naming
what was wrong, no traceback, and nothing created (no default `runs/`, no --run-dir).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# A user module registering envs whose spaces a DQN on an MLP cannot use; `env.id =
# "badspaces:DictObs-v0"` makes gymnasium import it.
BAD_SPACES_MODULE = """
import gymnasium as gym
import numpy as np
from gymnasium import spaces


class _Base(gym.Env):
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, True, False, {}


class DictObs(_Base):
    observation_space = spaces.Dict({"pos": spaces.Box(-1.0, 1.0, (2,), np.float32), "flag": spaces.Discrete(2)})


class ImageObs(_Base):
    # An image cockpit cannot read: neither its first nor its last axis can hold channels.
    observation_space = spaces.Box(0, 255, (8, 8, 8), np.uint8)


class BoundedImageObs(_Base):
    # Bounds that differ per cell: the space's str() is a multi-line numpy array.
    observation_space = spaces.Box(np.zeros((2, 2), np.float32), np.array([[1, 2], [3, 4]], np.float32))


class MultiDiscreteActions(_Base):
    observation_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = spaces.MultiDiscrete([2, 3])


gym.register(id="DictObs-v0", entry_point=DictObs)
gym.register(id="ImageObs-v0", entry_point=ImageObs)
gym.register(id="BoundedImageObs-v0", entry_point=BoundedImageObs)
gym.register(id="MultiDiscreteActions-v0", entry_point=MultiDiscreteActions)
"""


def subprocess_env(tmp_path: Path) -> dict:
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(REPO), str(tmp_path)]),
        PYTHONDONTWRITEBYTECODE="1",  # importing the user module must leave nothing behind
    )


def cockpit(tmp_path: Path, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cockpit", *map(str, args)],
        cwd=tmp_path,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.is_dir(), p.read_bytes() if p.is_file() else None) for p in root.rglob("*")}


def assert_config_error(proc: subprocess.CompletedProcess, tmp_path: Path, *fragments: str, preset: Path | None = None):
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert proc.returncode == 2, output
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{proc.stderr}"
    line = lines[0]
    assert line.startswith("cockpit: error: "), line
    assert proc.stdout == "", proc.stdout
    assert not (tmp_path / "runs").exists(), "a run directory was created"
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} missing from {line!r}"
    if preset is not None:
        assert str(preset) in line, f"the message does not name the preset file {preset}: {line!r}"


@pytest.fixture
def bad_spaces(tmp_path: Path) -> Path:
    (tmp_path / "badspaces.py").write_text(BAD_SPACES_MODULE, encoding="utf-8")
    return tmp_path


# --------------------------------------------------------------------------- the preset and --set (stdlib only)

PRESET_CASES = [
    # (preset text, extra arguments, fragments of the message)
    pytest.param(
        "[dqn]\nlearning_rat = 1e-3\n", [], ["dqn.learning_rat", "did you mean dqn.learning_rate?"], id="unknown-key"
    ),
    pytest.param("[dqnn]\ngamma = 0.9\n", [], ["[dqnn]", "did you mean [dqn]?"], id="unknown-table"),
    pytest.param(
        '[dqn]\nlearning_rate = "fast"\n', [], ["dqn.learning_rate = 'fast'", "expected a number"], id="wrong-type"
    ),
    pytest.param(
        "[dqn]\nbatch_size = 64.5\n", [], ["dqn.batch_size = 64.5", "expected an integer"], id="float-for-int"
    ),
    pytest.param("[dqn]\nlearning_rate = 0\n", [], ["dqn.learning_rate = 0", "in (0, 10]"], id="lr-zero"),
    pytest.param("[dqn]\nlearning_rate = -1.0\n", [], ["dqn.learning_rate = -1.0", "in (0, 10]"], id="lr-negative"),
    pytest.param("[dqn]\ngamma = 0\n", [], ["dqn.gamma = 0", "(0, 1]"], id="gamma-zero"),
    pytest.param("[dqn]\ngamma = 1.5\n", [], ["dqn.gamma = 1.5", "(0, 1]"], id="gamma-above-one"),
    pytest.param(
        "[dqn]\nbatch_size = 128\nbuffer_size = 100\n",
        [],
        ["dqn.batch_size = 128", "dqn.buffer_size (100)"],
        id="batch-above-buffer",
    ),
    pytest.param('[dqn]\nloss = "l1"\n', [], ["dqn.loss = 'l1'", "'huber', 'mse'"], id="loss"),
    pytest.param("[run]\nseed = -1\n", [], ["run.seed = -1", "[0, 2**63)"], id="seed-negative"),
    pytest.param('[run]\ndevice = "tpu"\n', [], ["run.device = 'tpu'", "'cpu' or 'cuda[:N]'"], id="device"),
    pytest.param('[env]\nid = ""\n', [], ["env.id = ''", "non-empty"], id="empty-env-id"),
    pytest.param("env = 3\n", [], ["env = 3", "expected a table [env]"], id="table-not-a-table"),
    pytest.param("[dqn\n", [], ["malformed TOML"], id="malformed-toml"),
    pytest.param(b"[env]\nid = 'caf\xe9'\n", [], ["not UTF-8"], id="not-utf8"),
    pytest.param("", ["--set", "dqn.gamma=2"], ["--set dqn.gamma=2", "dqn.gamma = 2", "(0, 1]"], id="set-out-of-range"),
    pytest.param(
        "",
        ["--set", "dqn.learning_rate=fast"],
        ["dqn.learning_rate = 'fast'", "expected a number"],
        id="set-wrong-type",
    ),
    pytest.param(
        "",
        ["--set", "dqn.learnig_rate=1e-3"],
        ["dqn.learnig_rate", "did you mean dqn.learning_rate?"],
        id="set-unknown-key",
    ),
    pytest.param("", ["--set", "foo.bar=1"], ["[foo]", "--set foo.bar=1"], id="set-unknown-table"),
    pytest.param(
        "",
        ["--set", "dqn.batch_size=20000"],
        ["dqn.batch_size = 20000", "dqn.buffer_size (10000)"],
        id="set-batch-above-buffer",
    ),
    pytest.param("", ["--seed", "-1"], ["run.seed = -1", "[0, 2**63)"], id="seed-flag-negative"),
    pytest.param("", ["--total-steps", "0"], ["run.total_steps = 0", "> 0"], id="total-steps-flag-zero"),
]


@pytest.mark.parametrize("text, args, fragments", PRESET_CASES)
def test_preset_errors(tmp_path, write_preset, text, args, fragments):
    preset = write_preset(text, "bad.toml")
    before = snapshot(tmp_path)
    proc = cockpit(tmp_path, preset, "--no-ui", *args)
    assert_config_error(proc, tmp_path, *fragments, preset=preset)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "text",
    ["dqn.learning_rate", "learning_rate=1e-3", "dqn.=1", "=1"],
)
def test_malformed_set(tmp_path, tiny_preset, text):
    proc = cockpit(tmp_path, tiny_preset, "--no-ui", "--set", text)
    assert_config_error(proc, tmp_path, "--set", repr(text), "TABLE.KEY=VALUE")


@pytest.mark.parametrize(
    "make_path, fragments",
    [
        pytest.param(lambda d: d / "missing.toml", ["no such preset file"], id="missing"),
        pytest.param(lambda d: (d / "presetdir").mkdir() or d / "presetdir", ["is a directory"], id="directory"),
        pytest.param(
            lambda d: (d / "afile.toml").write_text("[env]\n") and d / "afile.toml" / "x.toml", [], id="under-a-file"
        ),
    ],
)
def test_missing_preset_file(tmp_path, make_path, fragments):
    preset = make_path(tmp_path)
    proc = cockpit(tmp_path, preset, "--no-ui")
    assert_config_error(proc, tmp_path, *fragments, preset=preset)


# --------------------------------------------------------------------------- the environment (gymnasium)


@pytest.mark.parametrize(
    "env_id, fragments",
    [
        pytest.param("NoSuchEnv-v0", ["env.id = 'NoSuchEnv-v0'"], id="unknown-env"),
        pytest.param("nosuchmodule:Foo-v0", ["env.id = 'nosuchmodule:Foo-v0'"], id="unknown-module"),
        pytest.param(
            "Pendulum-v1", ["env.id = 'Pendulum-v1'", "action space", "Box", "expected Discrete"], id="box-actions"
        ),
        pytest.param(
            "badspaces:MultiDiscreteActions-v0",
            ["action space", "MultiDiscrete", "expected Discrete"],
            id="multidiscrete-actions",
        ),
        pytest.param(
            "badspaces:DictObs-v0",
            ["env.id = 'badspaces:DictObs-v0'", "observation space", "Dict", "expected a flat Box"],
            id="dict-obs",
        ),
        pytest.param(
            "badspaces:ImageObs-v0", ["image observation of shape (8, 8, 8)", "no channel axis"], id="image-obs"
        ),
        pytest.param(
            "badspaces:BoundedImageObs-v0",
            ["observation space", "(2, 2)", "expected a flat Box"],
            id="image-obs-multiline-bounds",
        ),
    ],
)
def test_env_errors(tmp_path, tiny_preset, bad_spaces, env_id, fragments):
    before = snapshot(tmp_path)
    proc = cockpit(tmp_path, tiny_preset, "--no-ui", "--set", f"env.id={env_id}")
    assert_config_error(proc, tmp_path, *fragments)
    assert snapshot(tmp_path) == before


def test_env_kwargs_rejected_by_the_env(tmp_path, tiny_preset):
    proc = cockpit(tmp_path, tiny_preset, "--no-ui", "--set", "env.kwargs={no_such_kwarg = 1}")
    assert_config_error(proc, tmp_path, "env.kwargs", "no_such_kwarg")


@pytest.mark.parametrize("env_id", ["NoSuchEnv-v0", "Pendulum-v1"])
def test_env_errors_name_the_preset_file(tmp_path, write_preset, env_id):
    # Like every other config error, an env that cannot be made or used names the preset file.
    preset = write_preset(f'[env]\nid = "{env_id}"\n', "envpreset.toml")
    proc = cockpit(tmp_path, preset, "--no-ui")
    assert_config_error(proc, tmp_path, f"env.id = {env_id!r}", preset=preset)


def test_unavailable_device_is_refused_before_the_run_directory(tmp_path, tiny_preset):
    # No machine has a 100th GPU; a CPU-only torch has none at all.
    run_dir = tmp_path / "rd"
    proc = cockpit(tmp_path, tiny_preset, "--no-ui", "--set", "run.device=cuda:99", "--run-dir", run_dir)
    assert_config_error(proc, tmp_path, "run.device", "cuda:99")
    assert not run_dir.exists()


# --------------------------------------------------------------------------- --run-dir


def test_existing_run_dir_is_refused_and_left_untouched(tmp_path, tiny_preset):
    run_dir = tmp_path / "existing"
    run_dir.mkdir()
    (run_dir / "keep.txt").write_text("precious")
    before, mtime = snapshot(tmp_path), run_dir.stat().st_mtime_ns
    proc = cockpit(tmp_path, tiny_preset, "--no-ui", "--run-dir", run_dir)
    assert_config_error(proc, tmp_path, "--run-dir", str(run_dir), "already exists")
    assert snapshot(tmp_path) == before
    assert run_dir.stat().st_mtime_ns == mtime


def test_run_dir_that_is_a_file_is_refused(tmp_path, tiny_preset):
    run_dir = tmp_path / "afile"
    run_dir.write_text("precious")
    proc = cockpit(tmp_path, tiny_preset, "--no-ui", "--run-dir", run_dir)
    assert_config_error(proc, tmp_path, "--run-dir", str(run_dir), "already exists")
    assert run_dir.read_text() == "precious"


def test_run_dir_under_a_file_is_refused(tmp_path, tiny_preset):
    parent = tmp_path / "afile"
    parent.write_text("precious")
    proc = cockpit(tmp_path, tiny_preset, "--no-ui", "--run-dir", parent / "run")
    assert_config_error(proc, tmp_path, "--run-dir", str(parent / "run"))
    assert parent.read_text() == "precious"


@pytest.mark.parametrize("env_id", ["Acrobot-v1", "FrozenLake-v1"])
def test_accepted_envs_get_past_validation(tmp_path, tiny_preset, env_id):
    # `--set env.id=Acrobot-v1` (an unquoted string) and a Discrete observation space pass the
    # env checks; the existing --run-dir then stops the run before any training.
    run_dir = tmp_path / "existing"
    run_dir.mkdir()
    proc = cockpit(tmp_path, tiny_preset, "--no-ui", "--set", f"env.id={env_id}", "--run-dir", run_dir)
    assert_config_error(proc, tmp_path, "--run-dir", "already exists")


# --------------------------------------------------------------------------- --help and import order


def test_help_prints_the_usage_and_exits_zero(tmp_path):
    """Quick because it imports neither torch nor gymnasium (the next test), not timed here."""
    proc = cockpit(tmp_path, "--help", timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: cockpit") and "--set" in proc.stdout and "--run-dir" in proc.stdout
    assert proc.stderr == ""


IMPORT_PROBE = """
import contextlib, io, json, sys
from cockpit.cli import main

for argv in json.loads(sys.argv[1]):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code
    print(json.dumps({"argv": argv, "rc": rc, "stderr": err.getvalue(),
                      "torch": "torch" in sys.modules, "gymnasium": "gymnasium" in sys.modules}))
"""


def test_errors_are_reported_before_torch_is_imported(tmp_path, write_preset, tiny_preset, bad_spaces):
    bad = write_preset("[dqn]\ngamma = 2\n", "bad.toml")
    existing = tmp_path / "existing"
    existing.mkdir()
    tiny = str(tiny_preset)
    # Ordered: the first cases must not even import gymnasium; all of them run in one process.
    stdlib_only = [
        ["--help"],
        [str(bad), "--no-ui"],
        [str(tmp_path / "missing.toml"), "--no-ui"],
        [tiny, "--no-ui", "--set", "dqn.learning_rate=0"],
        [tiny, "--no-ui", "--set", "nonsense"],
    ]
    with_gymnasium = [
        [tiny, "--no-ui", "--set", "env.id=NoSuchEnv-v0"],
        [tiny, "--no-ui", "--set", "env.id=Pendulum-v1"],
        [tiny, "--no-ui", "--set", "env.id=badspaces:DictObs-v0"],
        [tiny, "--no-ui", "--run-dir", str(existing)],
    ]
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, json.dumps(stdlib_only + with_gymnasium)],
        cwd=tmp_path,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["argv"] for r in results] == stdlib_only + with_gymnasium
    assert results[0]["rc"] == 0
    for r in results[1:]:
        assert r["rc"] == 2 and r["stderr"].startswith("cockpit: error: "), r
    for r in results:
        assert not r["torch"], f"torch was imported by {r['argv']}"
    for r in results[: len(stdlib_only)]:
        assert not r["gymnasium"], f"gymnasium was imported by {r['argv']}"
    assert not (tmp_path / "runs").exists()
