"""Unit tests of the preset loader: load_preset, parse_override, validate_live_change, to_toml."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path

import pytest

from cockpit.engine.config import (
    LIVE_KEYS,
    TABLES,
    Config,
    ConfigError,
    build_config,
    load_preset,
    parse_override,
    to_toml,
    validate_live_change,
)

REPO = Path(__file__).resolve().parents[1]
CARTPOLE = REPO / "presets" / "cartpole.toml"
ALL_KEYS = {f"{t}.{f.name}" for t, cls in TABLES.items() for f in dataclasses.fields(cls)}


def assert_one_line(message: str, *fragments: str) -> None:
    assert "\n" not in message and "\r" not in message, f"message is not one line: {message!r}"
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from {message!r}"


def get(config: Config, path: str):
    table, key = path.split(".")
    return getattr(getattr(config, table), key)


# --------------------------------------------------------------------------- loading


def test_cartpole_preset_loads():
    config = load_preset(CARTPOLE)
    assert config.name == "cartpole"
    assert config.env.id == "CartPole-v1"
    assert config.dqn.learning_rate == 3e-4 and isinstance(config.dqn.learning_rate, float)
    assert config.dqn.batch_size == 64 and config.dqn.buffer_size == 10_000
    assert config.run.total_steps == 50_000
    assert math.isnan(config.env.target_return)  # absent: taken from the env spec later


def test_tiny_preset_loads_and_missing_keys_take_defaults(tiny_preset):
    config = load_preset(tiny_preset)
    assert config.name == "tiny"
    assert config.dqn.batch_size == 8 and config.dqn.buffer_size == 64
    assert config.dqn.gamma == Config().dqn.gamma
    assert config.run.device == "cpu" and config.run.threads == 1


def test_int_is_accepted_where_a_float_is_expected(write_preset):
    config = load_preset(write_preset("[dqn]\nlearning_rate = 1\ngamma = 1\n"))
    assert config.dqn.learning_rate == 1.0 and isinstance(config.dqn.learning_rate, float)
    assert config.dqn.gamma == 1.0 and isinstance(config.dqn.gamma, float)


def test_empty_preset_is_all_defaults(write_preset):
    config = load_preset(write_preset("", "empty.toml"))
    assert config.dqn == Config().dqn and config.run == Config().run and config.name == "empty"
    assert config.env.id == Config().env.id and config.env.kwargs == {}


# --------------------------------------------------------------------------- parse_override


@pytest.mark.parametrize(
    "text, expected",
    [
        ("dqn.learning_rate=1e-3", ("dqn", "learning_rate", 1e-3)),
        ("dqn.batch_size=32", ("dqn", "batch_size", 32)),
        ("dqn.double_dqn=true", ("dqn", "double_dqn", True)),
        ("env.id=Acrobot-v1", ("env", "id", "Acrobot-v1")),  # not TOML: taken as a string
        ('env.id="Acrobot-v1"', ("env", "id", "Acrobot-v1")),
        ("env.id='Acrobot-v1'", ("env", "id", "Acrobot-v1")),
        ("dqn.loss=mse", ("dqn", "loss", "mse")),
        ("run.device=cuda:0", ("run", "device", "cuda:0")),
        (
            "env.kwargs={is_slippery = false, map_name = '8x8'}",
            ("env", "kwargs", {"is_slippery": False, "map_name": "8x8"}),
        ),
        (" dqn.gamma = 0.9 ", ("dqn", "gamma", 0.9)),
        ("dqn.batch_size=fast", ("dqn", "batch_size", "fast")),  # a string: build_config refuses it
        ("env.id=", ("env", "id", "")),
        ("dqn.loss=a=b", ("dqn", "loss", "a=b")),  # only the first '=' separates
    ],
)
def test_parse_override(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize(
    "text", ["dqn.learning_rate", "learning_rate=1e-3", "dqn.=1", "=1", "", "dqn.learning_rate 1e-3"]
)
def test_parse_override_malformed(text):
    with pytest.raises(ConfigError) as e:
        parse_override(text)
    assert_one_line(str(e.value), "--set", repr(text), "expected TABLE.KEY=VALUE")


# --------------------------------------------------------------------------- --set overrides every key

# (key, VALUE as typed after --set KEY=, the resulting value): one non-default value per key.
OVERRIDES = [
    ("env.id", "Acrobot-v1", "Acrobot-v1"),
    ("env.kwargs", "{is_slippery = false}", {"is_slippery": False}),
    ("env.max_episode_steps", "200", 200),
    ("env.reward_min", "-1", -1.0),
    ("env.reward_max", "2.5", 2.5),
    ("env.target_return", "195.5", 195.5),
    ("env.normalize_obs", "true", True),
    ("env.clip_reward", "1.0", 1.0),
    ("env.reward_abs_max", "1", 1.0),
    ("env.frame_stack", "4", 4),
    ("env.channels_first", "true", True),
    ("env.frame_skip", "2", 2),
    ("env.noop_max", "0", 0),
    ("env.screen_size", "64", 64),
    ("env.grayscale", "false", False),
    ("env.terminal_on_life_loss", "true", True),
    ("env.fire_reset", "false", False),
    ("env.repeat_action_probability", "0", 0.0),
    ("dqn.learning_rate", "1e-3", 1e-3),
    ("dqn.batch_size", "32", 32),
    ("dqn.gamma", "1", 1.0),
    ("dqn.epsilon_start", "0.5", 0.5),
    ("dqn.epsilon_end", "0", 0.0),
    ("dqn.epsilon_decay", "500", 500),
    ("dqn.buffer_size", "5000", 5000),
    ("dqn.target_update", "50", 50),
    ("dqn.hidden_size", "64", 64),
    ("dqn.hidden_layers", "3", 3),
    ("dqn.warmup_steps", "0", 0),
    ("dqn.train_freq", "4", 4),
    ("dqn.gradient_steps", "2", 2),
    ("dqn.loss", "mse", "mse"),
    ("dqn.max_grad_norm", "0", 0.0),
    ("dqn.double_dqn", "true", True),
    ("dqn.network", "nature_cnn", "nature_cnn"),
    ("run.seed", "7", 7),
    ("run.total_steps", "1000", 1000),
    ("run.eval_freq", "100", 100),
    ("run.eval_episodes", "3", 3),
    ("run.log_interval", "10", 10),
    ("run.threads", "2", 2),
    ("run.device", "cuda:1", "cuda:1"),
    ("run.checkpoint_keep", "1", 1),
    ("run.checkpoint_disk_gb", "2.5", 2.5),
    ("run.compute", '"autograd"', "autograd"),
    ("run.eval_epsilon", "0.05", 0.05),
    ("alerts.grad_spike_factor", "20", 20.0),
    ("alerts.loss_spike_factor", "50.0", 50.0),
    ("alerts.q_bound_factor", "1.5", 1.5),
    ("alerts.q_zero_fraction", "0.001", 0.001),
    ("alerts.q_zero_after_steps", "10000", 10000),
    ("alerts.collapse_action_share", "0.9", 0.9),
    ("alerts.collapse_min_epsilon", "0.3", 0.3),
    ("alerts.entropy_floor", "0.05", 0.05),
    ("alerts.flat_after_steps", "5000", 5000),
    ("alerts.flat_tolerance", "0.1", 0.1),
    ("alerts.on_non_finite", "pause", "pause"),
    ("alerts.spike_persistence", "5", 5),
    ("alerts.no_reward_steps", "500", 500),
    ("alerts.frozen_intervals", "3", 3),
    ("alerts.exploration_floor", "0.0", 0.0),
    ("alerts.no_progress_fraction", "0.3", 0.3),
    ("alerts.change_spike_factor", "4", 4.0),
    ("alerts.change_watch_steps", "500", 500),
    ("alerts.no_progress_after_steps", "30000", 30000),
    ("alerts.progress_margin", "0.2", 0.2),
    ("alerts.muted", '["grad_spike", "loss_spike"]', ["grad_spike", "loss_spike"]),
]


def test_overrides_cover_every_key():
    assert {key for key, _, _ in OVERRIDES} == ALL_KEYS


@pytest.mark.parametrize("key, raw, expected", OVERRIDES, ids=[k for k, _, _ in OVERRIDES])
def test_set_overrides_any_key(key, raw, expected):
    config = load_preset(CARTPOLE, [f"{key}={raw}"])
    value = get(config, key)
    assert value == expected and type(value) is type(expected)
    assert get(load_preset(CARTPOLE), key) != expected  # it really changed something


def test_all_overrides_at_once_and_later_wins(tiny_preset):
    overrides = [f"{key}={raw}" for key, raw, _ in OVERRIDES] + ["run.seed=9"]
    config = load_preset(tiny_preset, overrides)
    for key, _, expected in OVERRIDES:
        if key != "run.seed":
            assert get(config, key) == expected, key
    assert config.run.seed == 9
    assert config.name == "from-tiny"  # env.id is among the overrides: the name marks where it came from


def test_set_adds_a_table_the_preset_lacks(write_preset):
    config = load_preset(write_preset("[dqn]\ngamma = 0.9\n"), ["env.id=Acrobot-v1", "run.seed=3"])
    assert (config.env.id, config.dqn.gamma, config.run.seed) == ("Acrobot-v1", 0.9, 3)


@pytest.mark.parametrize(
    "overrides",
    [
        ["dqn.batch_size=16", "dqn.buffer_size=32"],
        ["dqn.buffer_size=32", "dqn.batch_size=16"],
    ],
    ids=["batch-first", "buffer-first"],
)
def test_set_order_does_not_matter_for_cross_key_rules(overrides):
    # cartpole has batch_size 64: shrinking the buffer first must not be refused on the way
    # to a final combination (16 <= 32) that is valid.
    config = load_preset(CARTPOLE, overrides)
    assert (config.dqn.batch_size, config.dqn.buffer_size) == (16, 32)


# --------------------------------------------------------------------------- preset errors

# (preset text, --set overrides, fragments the one-line message must contain besides the file name)
PRESET_ERRORS = [
    # unknown keys and tables, with a suggestion
    pytest.param(
        "[dqn]\nlearning_rat = 1e-3\n",
        [],
        ["unknown key dqn.learning_rat", "did you mean dqn.learning_rate?"],
        id="unknown-key",
    ),
    pytest.param(
        "[env]\ngamma = 0.9\n", [], ["unknown key env.gamma", "did you mean dqn.gamma?"], id="key-in-wrong-table"
    ),
    pytest.param(
        "[run]\nzzzzzz = 1\n", [], ["unknown key run.zzzzzz", "known:", "run.seed"], id="unknown-key-no-match"
    ),
    pytest.param("[dqnn]\ngamma = 0.9\n", [], ["unknown key [dqnn]", "did you mean [dqn]?"], id="unknown-table"),
    pytest.param("[zzz]\na = 1\n", [], ["unknown key [zzz]", "[dqn]", "[env]", "[run]"], id="unknown-table-no-match"),
    pytest.param('[dqn]\n"learning\\nrate" = 1\n', [], ["unknown key", "dqn.learning"], id="unknown-key-with-newline"),
    # wrong types
    pytest.param(
        "env = 'CartPole-v1'\n", [], ["env = 'CartPole-v1'", "expected a table [env]"], id="table-not-a-table"
    ),
    pytest.param("[env]\nid = 5\n", [], ["env.id = 5", "expected a string"], id="id-int"),
    pytest.param("[env]\nkwargs = 3\n", [], ["env.kwargs = 3", "expected a table"], id="kwargs-int"),
    pytest.param("[env]\nnormalize_obs = 1\n", [], ["env.normalize_obs = 1", "expected true or false"], id="bool-int"),
    pytest.param(
        "[env]\ntarget_return = inf\n", [], ["env.target_return = inf", "expected a finite number"], id="target-inf"
    ),
    pytest.param(
        '[dqn]\nlearning_rate = "fast"\n', [], ["dqn.learning_rate = 'fast'", "expected a number"], id="lr-string"
    ),
    pytest.param("[dqn]\nlearning_rate = true\n", [], ["dqn.learning_rate = True", "expected a number"], id="lr-bool"),
    pytest.param(
        "[dqn]\nlearning_rate = nan\n", [], ["dqn.learning_rate = nan", "expected a finite number"], id="lr-nan"
    ),
    pytest.param(
        "[dqn]\nlearning_rate = inf\n", [], ["dqn.learning_rate = inf", "expected a finite number"], id="lr-inf"
    ),
    pytest.param("[dqn]\nbatch_size = 64.0\n", [], ["dqn.batch_size = 64.0", "expected an integer"], id="batch-float"),
    pytest.param('[dqn]\nbatch_size = "64"\n', [], ["dqn.batch_size = '64'", "expected an integer"], id="batch-string"),
    pytest.param("[dqn]\nbatch_size = true\n", [], ["dqn.batch_size = True", "expected an integer"], id="batch-bool"),
    pytest.param("[dqn]\ndouble_dqn = 1\n", [], ["dqn.double_dqn = 1", "expected true or false"], id="double-int"),
    pytest.param("[dqn]\nloss = 1\n", [], ["dqn.loss = 1", "expected a string"], id="loss-int"),
    pytest.param("[run]\nseed = 1.5\n", [], ["run.seed = 1.5", "expected an integer"], id="seed-float"),
    pytest.param("[run]\ndevice = ['cpu']\n", [], ["run.device = ['cpu']", "expected a string"], id="device-list"),
    # out of range
    pytest.param('[env]\nid = ""\n', [], ["env.id = ''", "non-empty"], id="id-empty"),
    pytest.param('[env]\nid = "  "\n', [], ["env.id = '  '", "non-empty"], id="id-blank"),
    pytest.param(
        "[env]\nmax_episode_steps = -1\n", [], ["env.max_episode_steps = -1", ">= 0"], id="max-steps-negative"
    ),
    pytest.param("[env]\nclip_reward = -1\n", [], ["env.clip_reward = -1", ">= 0"], id="clip-negative"),
    pytest.param("[env]\nreward_abs_max = -0.5\n", [], ["env.reward_abs_max = -0.5", ">= 0"], id="reward-max-negative"),
    pytest.param(
        "[dqn]\nlearning_rate = 0\n", [], ["dqn.learning_rate = 0", "expected a number in (0, 10]"], id="lr-zero"
    ),
    pytest.param(
        "[dqn]\nlearning_rate = -1e-3\n",
        [],
        ["dqn.learning_rate = -0.001", "expected a number in (0, 10]"],
        id="lr-negative",
    ),
    pytest.param(
        "[dqn]\nlearning_rate = 1e308\n",
        [],
        ["dqn.learning_rate = 1e+308", "expected a number in (0, 10]"],
        id="lr-huge",
    ),
    pytest.param("[dqn]\ngamma = 0\n", [], ["dqn.gamma = 0", "expected a number in (0, 1]"], id="gamma-zero"),
    pytest.param("[dqn]\ngamma = -0.5\n", [], ["dqn.gamma = -0.5", "expected a number in (0, 1]"], id="gamma-negative"),
    pytest.param(
        "[dqn]\ngamma = 1.01\n", [], ["dqn.gamma = 1.01", "expected a number in (0, 1]"], id="gamma-above-one"
    ),
    pytest.param("[dqn]\nepsilon_start = 1.5\n", [], ["dqn.epsilon_start = 1.5", "[0, 1]"], id="eps-start"),
    pytest.param("[dqn]\nepsilon_end = -0.1\n", [], ["dqn.epsilon_end = -0.1", "[0, 1]"], id="eps-end"),
    pytest.param("[dqn]\nepsilon_decay = 0\n", [], ["dqn.epsilon_decay = 0", "> 0"], id="eps-decay"),
    pytest.param("[dqn]\nbatch_size = 0\n", [], ["dqn.batch_size = 0", "an integer > 0"], id="batch-zero"),
    pytest.param("[dqn]\nbuffer_size = 0\n", [], ["dqn.buffer_size = 0", "an integer > 0"], id="buffer-zero"),
    pytest.param(
        "[dqn]\nbatch_size = 128\nbuffer_size = 100\n",
        [],
        ["dqn.batch_size = 128", "at most dqn.buffer_size (100)"],
        id="batch-above-buffer",
    ),
    pytest.param(
        "[dqn]\nbuffer_size = 32\n",
        [],
        ["dqn.batch_size = 64", "at most dqn.buffer_size (32)"],
        id="batch-default-above-buffer",
    ),
    pytest.param("[dqn]\ntarget_update = 0\n", [], ["dqn.target_update = 0", "> 0"], id="target-update"),
    pytest.param("[dqn]\nhidden_size = 0\n", [], ["dqn.hidden_size = 0", "> 0"], id="hidden-size"),
    pytest.param("[dqn]\nhidden_layers = -1\n", [], ["dqn.hidden_layers = -1", "> 0"], id="hidden-layers"),
    pytest.param("[dqn]\nwarmup_steps = -1\n", [], ["dqn.warmup_steps = -1", ">= 0"], id="warmup"),
    pytest.param("[dqn]\ntrain_freq = 0\n", [], ["dqn.train_freq = 0", "> 0"], id="train-freq"),
    pytest.param("[dqn]\ngradient_steps = 0\n", [], ["dqn.gradient_steps = 0", "> 0"], id="gradient-steps"),
    pytest.param('[dqn]\nloss = "l1"\n', [], ["dqn.loss = 'l1'", "one of 'huber', 'mse'"], id="loss"),
    pytest.param("[dqn]\nmax_grad_norm = -1\n", [], ["dqn.max_grad_norm = -1", ">= 0"], id="grad-norm"),
    pytest.param("[run]\nseed = -1\n", [], ["run.seed = -1", "[0, 2**63)"], id="seed-negative"),
    pytest.param(f"[run]\nseed = {2**63}\n", [], [f"run.seed = {2**63}", "[0, 2**63)"], id="seed-too-big"),
    pytest.param("[run]\ntotal_steps = 0\n", [], ["run.total_steps = 0", "> 0"], id="total-steps"),
    pytest.param("[run]\neval_freq = 0\n", [], ["run.eval_freq = 0", "> 0"], id="eval-freq"),
    pytest.param("[run]\neval_episodes = 0\n", [], ["run.eval_episodes = 0", "> 0"], id="eval-episodes"),
    pytest.param("[run]\nlog_interval = 0\n", [], ["run.log_interval = 0", "> 0"], id="log-interval"),
    pytest.param("[run]\nthreads = 0\n", [], ["run.threads = 0", "> 0"], id="threads"),
    pytest.param("[run]\ncheckpoint_keep = 0\n", [], ["run.checkpoint_keep = 0", "> 0"], id="checkpoint-keep"),
    pytest.param('[run]\ndevice = "tpu"\n', [], ["run.device = 'tpu'", "'cpu' or 'cuda[:N]'"], id="device-tpu"),
    pytest.param('[run]\ndevice = "cudax"\n', [], ["run.device = 'cudax'", "'cpu' or 'cuda[:N]'"], id="device-cudax"),
    pytest.param(
        '[run]\ndevice = "cuda:x"\n', [], ["run.device = 'cuda:x'", "'cpu' or 'cuda[:N]'"], id="device-cuda-colon-x"
    ),
    # --set: the message names the file and the --set argument
    pytest.param("", ["dqn.gamma=2"], ["--set dqn.gamma=2", "dqn.gamma = 2", "(0, 1]"], id="set-gamma"),
    pytest.param(
        "",
        ["dqn.learnig_rate=1e-3"],
        ["--set dqn.learnig_rate=1e-3", "did you mean dqn.learning_rate?"],
        id="set-unknown-key",
    ),
    pytest.param("", ["foo.bar=1"], ["--set foo.bar=1", "unknown key [foo]"], id="set-unknown-table"),
    pytest.param("", ["dqnn.gamma=0.9"], ["--set dqnn.gamma=0.9", "did you mean [dqn]?"], id="set-unknown-table-typo"),
    pytest.param("", ["dqn.batch_size=fast"], ["dqn.batch_size = 'fast'", "expected an integer"], id="set-wrong-type"),
    pytest.param("", ["env.id="], ["env.id = ''", "non-empty"], id="set-empty-id"),
    pytest.param(
        "",
        ["dqn.batch_size=20000"],
        ["dqn.batch_size = 20000", "at most dqn.buffer_size (10000)"],
        id="set-batch-above-buffer",
    ),
    pytest.param("", ["run.seed=1", "run.seed=-5"], ["--set run.seed=-5", "run.seed = -5"], id="set-second-bad"),
    pytest.param(
        "", ["dqn.learning_rate"], ["--set 'dqn.learning_rate'", "expected TABLE.KEY=VALUE"], id="set-malformed"
    ),
]


@pytest.mark.parametrize("text, overrides, fragments", PRESET_ERRORS)
def test_preset_error_is_one_line_naming_file_key_value_expectation(write_preset, text, overrides, fragments):
    path = write_preset(text, "bad.toml")
    with pytest.raises(ConfigError) as e:
        load_preset(path, overrides)
    message = str(e.value)
    named = [] if overrides == ["dqn.learning_rate"] else [str(path)]  # a malformed --set names no file
    assert_one_line(message, *named, *fragments)


@pytest.mark.parametrize(
    "setup, fragments",
    [
        pytest.param(lambda d: d / "missing.toml", ["no such preset file"], id="missing"),
        pytest.param(lambda d: d, ["is a directory"], id="directory"),
        pytest.param(
            lambda d: _write(d / "latin1.toml", "[env]\nid = 'caf\xe9'\n".encode("latin-1")),
            ["not UTF-8"],
            id="not-utf8",
        ),
        pytest.param(lambda d: _write(d / "bad.toml", b"[dqn\ngamma = 0.9\n"), ["malformed TOML"], id="malformed"),
        pytest.param(lambda d: _write(d / "bad.toml", b"[dqn]\ngamma = \n"), ["malformed TOML"], id="missing-value"),
        pytest.param(
            lambda d: _write(d / "bad.toml", b"[dqn]\ngamma = 0.9\ngamma = 0.8\n"),
            ["malformed TOML"],
            id="duplicate-key",
        ),
        pytest.param(
            lambda d: _write(d / "bad.toml", b"[dqn]\ngamma = 0.9\n") / "x.toml", ["expected"], id="under-a-file"
        ),
    ],
)
def test_bad_preset_file(tmp_path, setup, fragments):
    path = setup(tmp_path)
    with pytest.raises(ConfigError) as e:
        load_preset(path)
    assert_one_line(str(e.value), str(path), *fragments)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- live changes


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("learning_rate", 1, 1.0),
        ("learning_rate", 1e-4, 1e-4),
        ("gamma", 1, 1.0),
        ("gamma", 0.5, 0.5),
        ("epsilon_end", 0, 0.0),
        ("epsilon_decay", 100, 100),
        ("batch_size", 10_000, 10_000),  # equal to buffer_size: allowed
        ("target_update", 1, 1),
        ("train_freq", 4, 4),
        ("gradient_steps", 2, 2),
        ("max_grad_norm", 0, 0.0),
    ],
)
def test_live_change_accepted_and_coerced(key, value, expected):
    got = validate_live_change(Config(), key, value)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    "key, value, fragments",
    [
        ("hidden_size", 64, ["hidden_size", "not live-adjustable", "expected one of", "learning_rate"]),
        ("buffer_size", 64, ["buffer_size", "not live-adjustable"]),
        ("learning_rat", 1e-3, ["learning_rat", "did you mean learning_rate?", "expected one of"]),
        ("learning_rate", 0, ["dqn.learning_rate = 0", "(0, 10]"]),
        ("learning_rate", -1.0, ["dqn.learning_rate = -1.0", "(0, 10]"]),
        ("learning_rate", 1e308, ["dqn.learning_rate = 1e+308", "(0, 10]"]),
        ("learning_rate", "fast", ["dqn.learning_rate = 'fast'", "expected a number"]),
        ("learning_rate", math.inf, ["dqn.learning_rate = inf", "finite"]),
        ("learning_rate", math.nan, ["dqn.learning_rate = nan", "finite"]),
        ("gamma", 0, ["dqn.gamma = 0", "(0, 1]"]),
        ("gamma", 1.5, ["dqn.gamma = 1.5", "(0, 1]"]),
        ("epsilon_end", 1.5, ["dqn.epsilon_end = 1.5", "[0, 1]"]),
        ("epsilon_decay", 0, ["dqn.epsilon_decay = 0", "> 0"]),
        ("batch_size", 0, ["dqn.batch_size = 0", "> 0"]),
        ("batch_size", 32.0, ["dqn.batch_size = 32.0", "an integer"]),
        ("batch_size", True, ["dqn.batch_size = True", "an integer"]),
        ("batch_size", 10_001, ["dqn.batch_size = 10001", "at most dqn.buffer_size (10000)"]),
        ("target_update", -1, ["dqn.target_update = -1", "> 0"]),
        ("train_freq", 0, ["dqn.train_freq = 0", "> 0"]),
        ("gradient_steps", 0, ["dqn.gradient_steps = 0", "> 0"]),
        ("max_grad_norm", -0.1, ["dqn.max_grad_norm = -0.1", ">= 0"]),
    ],
)
def test_live_change_refused(key, value, fragments):
    config = Config()
    with pytest.raises(ConfigError) as e:
        validate_live_change(config, key, value)
    assert_one_line(str(e.value), *fragments)
    assert config == Config()


def test_live_keys_are_dqn_keys():
    assert set(LIVE_KEYS) <= {f.name for f in dataclasses.fields(TABLES["dqn"])}


# --------------------------------------------------------------------------- to_toml round trip


def without_nan(config: Config) -> Config:
    """NaN != NaN: the keys whose NaN means absent, set to a number for comparing."""
    return dataclasses.replace(
        config,
        env=dataclasses.replace(
            config.env,
            **{
                f.name: 0.0
                for f in dataclasses.fields(config.env)
                if f.type == "float" and math.isnan(getattr(config.env, f.name))
            },
        ),
    )


def round_trip(config: Config) -> Config:
    text = to_toml(config)
    return build_config(tomllib.loads(text), "config.toml", name=config.name)


def with_env(**changes) -> Config:
    return Config(name="rt").replace("env", target_return=195.0, **changes)


ALL_CHANGED = build_config(
    {
        table: {key.split(".")[1]: value for key, _, value in OVERRIDES if key.startswith(table + ".")}
        for table in TABLES
    },
    "overrides",
    name="all-changed",
)


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(load_preset(CARTPOLE).replace("env", target_return=475.0), id="cartpole"),
        pytest.param(ALL_CHANGED, id="every-key-changed"),
        pytest.param(with_env(kwargs={"map_name": "4x4", "is_slippery": False}), id="kwargs-flat"),
        pytest.param(with_env(kwargs={"a": {"b": 1, "c": [1, 2], "d": {"e": -0.5}}}), id="kwargs-nested"),
        pytest.param(with_env(kwargs={"desc": ["SFFF", "FHFH", "FFFH", "HFFG"]}), id="kwargs-list-of-strings"),
        pytest.param(with_env(kwargs={"s": 'quote " and backslash \\ end'}), id="kwargs-quote-backslash"),
        pytest.param(with_env(kwargs={"u": "café ☃"}), id="kwargs-unicode"),
        pytest.param(with_env(kwargs={"neg": -1.5, "big": 2**62, "tiny": 1e-12, "zero": -0.0}), id="kwargs-numbers"),
        pytest.param(with_env(id='my.module:Weird"Env\\-v0'), id="id-quote-backslash"),
        pytest.param(with_env().replace("dqn", learning_rate=1e-5, gamma=1.0), id="small-lr"),
        # values a TOML preset can hold in env.kwargs that to_toml must write back as TOML
        pytest.param(with_env(kwargs={"flags": [True, False]}), id="kwargs-list-of-bools"),
        pytest.param(with_env(kwargs={"paths": ["C:\\dir"]}), id="kwargs-list-with-backslash"),
        pytest.param(with_env(kwargs={"rows": [{"a": 1}]}), id="kwargs-list-of-tables"),
        pytest.param(with_env(kwargs={"text": "two\nlines"}), id="kwargs-newline"),
        pytest.param(with_env(kwargs={"a b": 1}), id="kwargs-key-with-space"),
        pytest.param(with_env(kwargs={"a.b": 1}), id="kwargs-key-with-dot"),
    ],
)
def test_to_toml_round_trip(config):
    back = round_trip(config)
    assert without_nan(back) == without_nan(config)
    assert to_toml(back) == to_toml(config)


def test_to_toml_round_trip_keeps_nan_target_return():
    config = Config()
    text = to_toml(config)
    assert "target_return = nan" in text
    back = round_trip(config)
    assert math.isnan(back.env.target_return)
    assert without_nan(back) == without_nan(config)


def test_to_toml_has_every_table_and_key():
    tables = tomllib.loads(to_toml(ALL_CHANGED))
    assert {f"{t}.{k}" for t, values in tables.items() for k in values} == ALL_KEYS


# --------------------------------------------------------------------------- environments (gymnasium, no torch)


def test_discrete_observations_are_accepted_one_hot(tiny_preset):
    from cockpit.engine.envs import inspect_env, make_env

    config = load_preset(tiny_preset, ["env.id=FrozenLake-v1"])
    info = inspect_env(config.env)
    assert (info.obs_dim, info.n_actions) == (16, 4)
    env = make_env(config.env)
    try:
        obs, _ = env.reset(seed=0)
        assert obs.shape == (16,) and obs.sum() == 1.0
    finally:
        env.close()


def test_set_env_id_unquoted_reaches_gymnasium(tiny_preset):
    from cockpit.engine.envs import inspect_env

    config = load_preset(tiny_preset, ["env.id=Acrobot-v1"])
    info = inspect_env(config.env)
    assert (info.obs_dim, info.n_actions, info.time_limit) == (6, 3, 500)
