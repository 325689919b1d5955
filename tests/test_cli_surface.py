"""The command line as a user meets it (issue 19, item 9): run names that follow the env trained,
`dqn.epsilon_decay` as a share of the run, `--set-file`, and a headless log of one line per
`run.log_interval` steps when stdout is a pipe."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from cockpit.engine.config import Config, ConfigError, build_config, load_preset, validate_live_change
from cockpit.engine.runlog import default_run_dir
from cockpit.presets import overrides_from, resolve_config
from tests.test_cli_errors import assert_config_error, cockpit

REPO = Path(__file__).resolve().parents[1]
CARTPOLE = REPO / "presets" / "cartpole.toml"


# --------------------------------------------------------------------------- run names


def test_a_preset_run_is_named_for_its_env_and_preset():
    config = load_preset(CARTPOLE)
    assert config.name == "cartpole"
    assert default_run_dir(config).name.startswith("CartPole-v1-cartpole-s1-")


def test_an_overridden_env_marks_the_preset_it_came_from():
    config = load_preset(CARTPOLE, ["env.id=MountainCar-v0"])
    assert config.name == "from-cartpole"
    assert default_run_dir(config).name.startswith("MountainCar-v0-from-cartpole-s1-")


def test_other_overrides_keep_the_preset_name():
    assert load_preset(CARTPOLE, ["dqn.learning_rate=1e-3", "env.id=CartPole-v1"]).name == "cartpole"


# --------------------------------------------------------------------------- epsilon_decay as a share


def test_a_share_is_resolved_from_the_final_total_steps(write_preset):
    preset = write_preset('[dqn]\nepsilon_decay = "10%"\n[run]\ntotal_steps = 5000\n')
    assert load_preset(preset).dqn.epsilon_decay == 500
    assert resolve_config(preset, total_steps=20_000).dqn.epsilon_decay == 2000  # after --total-steps
    assert load_preset(preset, ["dqn.epsilon_decay=2.5%"]).dqn.epsilon_decay == 125


def test_a_resolved_share_is_written_as_steps(write_preset):
    from cockpit.engine.config import to_toml

    config = load_preset(write_preset('[dqn]\nepsilon_decay = "50%"\n[run]\ntotal_steps = 300\n'))
    written = tomllib.loads(to_toml(config))
    assert written["dqn"]["epsilon_decay"] == 150
    # Read back (a resume) with a larger total: the steps stay.
    again = build_config({**written, "run": {**written["run"], "total_steps": 9000}}, "config.toml")
    assert again.dqn.epsilon_decay == 150


@pytest.mark.parametrize("value", ["110%", "0%", "x%", "%", "ten", "-5%"])
def test_a_bad_share_is_one_line(value):
    with pytest.raises(ConfigError, match=r"dqn\.epsilon_decay = .*expected an integer > 0 or a share") as e:
        load_preset(CARTPOLE, [f"dqn.epsilon_decay={value}"])
    assert "\n" not in str(e.value)


def test_a_live_change_takes_a_share_of_the_total():
    config = Config().replace("run", total_steps=40_000)
    assert validate_live_change(config, "epsilon_decay", "25%") == 10_000
    assert validate_live_change(config, "epsilon_decay", 123) == 123
    with pytest.raises(ConfigError, match="expected an integer > 0 or a share"):
        validate_live_change(config, "epsilon_decay", "200%")


# --------------------------------------------------------------------------- --set-file


def test_a_set_file_applies_after_the_preset_and_before_set(tmp_path):
    overrides = tmp_path / "over.toml"
    overrides.write_text('[dqn]\nlearning_rate = 1e-3\ngamma = 0.9\n[env]\nkwargs = {"sutton_barto_reward" = true}\n')
    config = resolve_config(CARTPOLE, overrides_from([overrides], ["dqn.gamma=0.95"]))
    assert config.dqn.learning_rate == 1e-3
    assert config.dqn.gamma == 0.95  # --set wins
    assert config.env.kwargs == {"sutton_barto_reward": True}
    assert config.name == "cartpole"


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("[dqn]\nlerning_rate = 1e-3\n", ["unknown key dqn.lerning_rate", "did you mean dqn.learning_rate"]),
        ("[dqnn]\nx = 1\n", ["unknown key [dqnn]"]),
        ("dqn = 3\n", ["dqn = 3: expected a table [dqn]"]),
        ("[dqn\n", ["malformed TOML"]),
        ("[dqn]\ngamma = 2\n", ["dqn.gamma = 2"]),
        ('[dqn]\nepsilon_decay = "110%"\n', ["dqn.epsilon_decay = '110%'"]),
    ],
)
def test_a_bad_set_file_is_one_line_naming_file_and_key(tmp_path, text, fragments):
    path = tmp_path / "over.toml"
    path.write_text(text, encoding="utf-8")
    proc = cockpit(tmp_path, CARTPOLE, "--no-ui", "--set-file", path)
    assert_config_error(proc, tmp_path, f"--set-file {path}", *fragments)


def test_a_missing_set_file_is_one_line(tmp_path):
    proc = cockpit(tmp_path, "check", CARTPOLE, "--set-file", tmp_path / "nope.toml")
    assert_config_error(proc, tmp_path, "nope.toml: no such file")


@pytest.mark.parametrize("command", [[], ["check"], ["play"], ["seeds"], ["tune"]])
def test_every_command_with_set_has_set_file(command):
    import importlib

    name = command[0] if command else "run"
    parser = importlib.import_module(f"cockpit.commands.{name}").parser()
    flags = {flag for action in parser._actions for flag in action.option_strings}
    assert {"--set", "--set-file"} <= flags


# --------------------------------------------------------------------------- headless output to a pipe


def test_a_piped_headless_run_prints_one_line_per_log_interval(tmp_path, tiny_preset):
    proc = cockpit(
        tmp_path,
        tiny_preset,
        "--no-ui",
        "--set",
        "run.total_steps=1000",
        "--set",
        "run.log_interval=200",
        "--set",
        "run.eval_freq=100000",
        "--run-dir",
        tmp_path / "run",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = [int(m.group(1).replace(",", "")) for m in re.finditer(r"^\s+\w+\s+([\d,]+)/1,000 ", proc.stdout, re.M)]
    assert steps == [200, 400, 600, 800, 1000], proc.stdout
    assert " 0 steps/s" not in proc.stdout
    assert "\r" not in proc.stdout


def test_a_run_writes_the_share_as_steps_and_is_named_for_its_env(tmp_path, tiny_preset):
    overrides = tmp_path / "over.toml"
    overrides.write_text('[dqn]\nepsilon_decay = "25%"\n[env]\nid = "Acrobot-v1"\n', encoding="utf-8")
    proc = cockpit(tmp_path, tiny_preset, "--no-ui", "--set-file", overrides, "--total-steps", 200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("Acrobot-v1-from-tiny-s1-")
    written = tomllib.loads((run_dir / "config.toml").read_text(encoding="utf-8"))
    assert written["dqn"]["epsilon_decay"] == 50
    assert written["env"]["id"] == "Acrobot-v1"


@pytest.mark.parametrize("flag", ["--resume", "--replay"])
def test_resume_and_replay_refuse_a_set_file(tmp_path, tiny_preset, flag):
    run_dir = tmp_path / "made" / "run"
    made = cockpit(tmp_path, tiny_preset, "--no-ui", "--run-dir", run_dir)
    assert made.returncode == 0, made.stdout + made.stderr
    overrides = tmp_path / "over.toml"
    overrides.write_text("[dqn]\ngamma = 0.9\n", encoding="utf-8")
    before = sorted(p.name for p in (tmp_path / "made").rglob("*"))
    proc = cockpit(tmp_path, flag, run_dir, "--set-file", overrides, "--no-ui", "--total-steps", 100)
    assert_config_error(proc, tmp_path, "--set-file")
    assert sorted(p.name for p in (tmp_path / "made").rglob("*")) == before
