"""`cockpit check`: the healthy CartPole preset passes everything; each deliberately broken env and
each broken setting makes the right item fire with the right message; exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import broken_envs
import numpy as np
import pytest

from cockpit.cli import main as cockpit_main
from cockpit.engine.checks import (
    FAIL,
    OK,
    SECTIONS,
    WARN,
    CheckResult,
    hyperparameter_checks,
    learning_checks,
    run_checks,
)
from cockpit.engine.config import load_preset
from cockpit.engine.envs import EnvInfo
from cockpit.engine.network_probes import LearningReport

REPO = Path(__file__).resolve().parents[1]
CARTPOLE = REPO / "presets" / "cartpole.toml"


def check(*overrides: str) -> list[CheckResult]:
    return run_checks(load_preset(CARTPOLE, list(overrides)))


def broken(name: str) -> str:
    return f"env.id={broken_envs.NAMESPACE}/{name}-v0"


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    """Items by name; check_env may report several, the last one wins (tests name it only when it is alone)."""
    return {r.name: r for r in results}


def not_ok(results: list[CheckResult]) -> dict[str, str]:
    return {r.name: r.status for r in results if r.status != OK}


@pytest.fixture(scope="module")
def cartpole() -> list[CheckResult]:
    return check()


def test_healthy_cartpole_passes_every_check(cartpole):
    assert not_ok(cartpole) == {}, [r for r in cartpole if r.status != OK]
    assert [r.section for r in cartpole] == sorted((r.section for r in cartpole), key=SECTIONS.index)
    assert set(r.section for r in cartpole) == set(SECTIONS)
    items = by_name(cartpole)
    assert "constant 1 per step" in items["reward varies"].figure
    assert "20 terminated · 0 truncated (time limit 500)" in items["terminations vs truncations"].figure
    assert "= 99.34" in items["Q bound"].figure
    assert "20% of the 50,000-step run" in items["epsilon schedule"].figure


BROKEN_ENVS = [
    # (env, the items that must not pass, item to read, fragments of its figure and advice)
    pytest.param(
        "WrongSign",
        {"terminal-step reward": WARN},
        "terminal-step reward",
        ["-1 on the terminal step", "ending the episode stops the cost", "wrong sign"],
        id="wrong-sign",
    ),
    pytest.param(
        "ZeroReward",
        {"reward varies": FAIL, "Q bound": WARN},
        "reward varies",
        ["0 on every one of", "step() must return the reward"],
        id="zero-reward",
    ),
    pytest.param(
        "NoEffect",
        {"actions change the state": FAIL},
        "actions change the state",
        ["no action changed the next state", "step() ignores its action"],
        id="no-effect",
    ),
    pytest.param(
        "OutOfSpace",
        {"observations in space": FAIL},
        "observations in space",
        ["outside Box(-1.0, 1.0, (4,), float32)", "declare the observation_space"],
        id="out-of-space",
    ),
    pytest.param(
        "IgnoresSeed",
        {"gymnasium check_env": FAIL, "actions change the state": WARN, "seeded resets": FAIL},
        "seeded resets",
        ["the env ignores its seed", "super().reset(seed=seed)"],
        id="ignores-seed",
    ),
]


@pytest.mark.parametrize("env, failing, item, fragments", BROKEN_ENVS)
def test_each_broken_env_fires_its_check(env, failing, item, fragments):
    results = check(broken(env))
    assert not_ok(results) == failing, [r for r in results if r.status != OK]
    result = by_name(results)[item]
    text = f"{result.figure} → {result.advice}"
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} missing from {text!r}"


def test_ignored_seed_is_named_by_gymnasiums_checker_too():
    checker = [r for r in check(broken("IgnoresSeed")) if r.name == "gymnasium check_env"]
    assert [r.status for r in checker] == [FAIL]
    assert "reset(seed=123)` is non-deterministic" in checker[0].figure


def test_broken_settings_fire_exploration_and_hyperparameter_checks():
    results = check("dqn.learning_rate=1.0", "dqn.epsilon_decay=60000", "dqn.hidden_size=16", "dqn.target_update=10000")
    assert not_ok(results) == {
        "epsilon schedule": FAIL,
        "learning_rate": FAIL,
        "hidden_size": WARN,
        "target_update": WARN,
    }
    items = by_name(results)
    assert "ε is still 0.18 when the run ends" in items["epsilon schedule"].figure
    assert "dqn.epsilon_decay below run.total_steps" in items["epsilon schedule"].advice
    assert items["learning_rate"].figure == "1 (usual 1e-05–0.001): far outside"
    assert "5 target syncs" in items["target_update"].figure


def test_undiscounted_run_without_time_limit_has_no_q_bound():
    config = load_preset(CARTPOLE, ["dqn.gamma=1.0"])
    items = by_name(
        hyperparameter_checks(config, EnvInfo(obs_dim=4, n_actions=2, time_limit=0, target_return=math.nan))
    )
    assert items["Q bound"].status == FAIL and "unbounded" in items["Q bound"].figure
    assert items["gamma"].status == WARN


def learning(**changes) -> LearningReport:
    healthy = dict(
        memorized_loss=1e-6,
        memorize_steps=40,
        grad_norms=[0.1, 0.5, 0.9],
        loss_before=0.5,
        loss_after=0.01,
        batch_size=64,
        learning_rate=3e-4,
    )
    return LearningReport(**{**healthy, **changes})


@pytest.mark.parametrize(
    "changes, item, status, fragment",
    [
        ({"memorized_loss": 0.3, "memorize_steps": 1000}, "memorize one transition", FAIL, "loss still 3.0e-01"),
        ({"grad_norms": [0.1, 0.0, 0.9]}, "gradients reach every layer", FAIL, "layer 2 of 3"),
        ({"grad_norms": [0.1, float("nan"), 0.9]}, "gradients reach every layer", FAIL, "layer 2 of 3"),
        ({"loss_after": float("inf")}, "training burst lowers the loss", FAIL, "lower dqn.learning_rate"),
        ({"loss_after": 0.4, "learning_rate": 1e-6}, "training burst lowers the loss", WARN, "raise dqn.learning_rate"),
    ],
)
def test_learning_judgments(changes, item, status, fragment):
    results = by_name(learning_checks(learning(**changes)))
    assert results[item].status == status
    assert fragment in results[item].figure + results[item].advice
    assert all(r.status == OK for name, r in results.items() if name != item)


def run_cli(tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env
    )


def test_cli_prints_the_checklist_exits_0_and_never_imports_textual(tmp_path):
    code = (
        "import sys\n"
        "from cockpit.cli import main\n"
        f"code = main(['check', {str(CARTPOLE)!r}])\n"
        "leaked = sorted(m for m in sys.modules if m.startswith(('textual', 'plotext', 'pygame', 'cockpit.ui')))\n"
        "print('EXIT', code, 'LEAKED', leaked)\n"
    )
    done = run_cli(tmp_path, code)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.rstrip().endswith("EXIT 0 LEAKED []"), out
    headings = [out.index(f"{i}. {section}") for i, section in enumerate(SECTIONS, 1)]
    assert headings == sorted(headings)
    assert "✓ memorize one transition" in out and "⚠" not in out and "✗" not in out
    assert "24 passed · 0 warnings · 0 failed" in out


def test_cli_json_on_a_user_module_env_exits_1_with_the_same_figures(tmp_path):
    env_id = f"broken_envs:{broken_envs.NAMESPACE}/NoEffect-v0"
    code = f"import sys\nfrom cockpit.cli import main\nsys.exit(main(['check', {str(CARTPOLE)!r}, '--set', 'env.id={env_id}', '--json']))\n"
    done = run_cli(tmp_path, code)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["env"] == env_id and not report["passed"] and report["counts"][FAIL] == 1
    in_process = [r.__dict__ for r in check(f"env.id={env_id}")]
    assert report["checks"] == in_process  # seeded: the same figures in another process


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--set", "dqn.batch_size=20000"], "expected at most dqn.buffer_size"),
        (["--set", "env.id=no_such_module:X-v0"], "No module named 'no_such_module'"),
        (["--set", "dqn.learning_rat=1"], "did you mean dqn.learning_rate?"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, args, fragment):
    assert cockpit_main(["check", str(CARTPOLE), *args]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("cockpit: error: ") and fragment in err[0], err


def test_results_are_plain_data(cartpole):
    assert all(isinstance(r.figure, str) and r.status in (OK, WARN, FAIL) for r in cartpole)
    assert np.all([("\n" not in r.figure and "\n" not in r.advice) for r in cartpole])


def test_an_env_that_raises_is_a_failed_check_naming_where_not_a_crash():
    results = check(broken("Crashes"))
    failed = [r for r in results if r.status == FAIL]
    assert failed[0].section == "Reward signal" and {r.name for r in failed} == {"the environment runs"}
    assert "ValueError: boom in step (raised at broken_envs.py:" in failed[0].figure
    assert {r.section for r in results} == {"Reward signal", "Hyperparameters"}  # the settings are still checked
