"""Image observations and Atari: layouts accepted and refused, the ALE wrappers, the CNNs, the catch
env, and the atari extra kept out of every other run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import catch_env
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

from cockpit.engine import agent, networks
from cockpit.engine.atari import LIFE_LOST, FireOnStart, LifeLossSignal, learning_terminal
from cockpit.engine.config import ConfigError, DQNConfig, EnvConfig, build_config, load_preset
from cockpit.engine.envs import find_wrapper, inspect_env, make_env
from cockpit.engine.observations import check_observation_space, choose_network, image_layout

REPO = Path(__file__).resolve().parents[1]
CATCH = f"catch_env:{catch_env.ENV_ID}"


def env_config(**keys) -> EnvConfig:
    return build_config({"env": keys}, "test").env


def refused(call, *args) -> str:
    with pytest.raises(ConfigError) as e:
        call(*args)
    message = str(e.value)
    assert "\n" not in message
    return message


def uint8_box(*shape: int) -> spaces.Box:
    return spaces.Box(0, 255, shape, np.uint8)


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize(
    "shape, channels_first, layout, frame",
    [
        ((84, 84), None, "hw", (1, 84, 84)),
        ((84, 84, 3), None, "hwc", (3, 84, 84)),
        ((3, 84, 84), None, "chw", (3, 84, 84)),
        ((4, 84, 84), None, "chw", (4, 84, 84)),
        ((4, 10, 3), True, "chw", (4, 10, 3)),
        ((4, 10, 3), False, "hwc", (3, 4, 10)),
    ],
)
def test_image_layouts_found(shape, channels_first, layout, frame):
    found = image_layout(uint8_box(*shape), EnvConfig(id="Mine-v0", channels_first=channels_first))
    assert (found.layout, found.frame_shape) == (layout, frame)


@pytest.mark.parametrize(
    "shape, channels_first, message",
    [
        (
            (4, 10, 3),
            None,
            "env.id = 'Mine-v0': image observation of shape (4, 10, 3): both its first and last axes could hold "
            "the channels (expected env.channels_first = true for (C, H, W) or false for (H, W, C))",
        ),
        (
            (84, 84, 84),
            None,
            "env.id = 'Mine-v0': image observation of shape (84, 84, 84): no channel axis "
            "(expected (H, W), (H, W, C) or (C, H, W) with at most 4 channels)",
        ),
        (
            (84, 84, 3),
            True,
            "env.id = 'Mine-v0': image observation of shape (84, 84, 3), env.channels_first = true: its first axis "
            "has more than 4 entries (expected the channels there, at most 4)",
        ),
    ],
)
def test_unclear_image_layouts_refused(shape, channels_first, message):
    cfg = EnvConfig(id="Mine-v0", channels_first=channels_first)
    assert refused(image_layout, uint8_box(*shape), cfg) == message


@pytest.mark.parametrize(
    "space",
    [
        spaces.Dict({"pixels": uint8_box(84, 84)}),
        spaces.Box(0.0, 1.0, (84, 84), np.float32),
        uint8_box(2, 84, 84, 3),
    ],
    ids=["dict", "float-image", "four-axes"],
)
def test_other_observation_spaces_refused(space):
    message = refused(check_observation_space, space, EnvConfig(id="Mine-v0"))
    assert message.startswith("env.id = 'Mine-v0': observation space ")
    assert message.endswith(
        "is not supported (expected a flat Box vector, Discrete, or a uint8 image Box (H, W), (H, W, C) or "
        "(C, H, W); Dict and other spaces are not)"
    )


def test_frame_stack_and_normalize_refused_where_they_do_not_apply():
    vector = spaces.Box(-1.0, 1.0, (4,), np.float32)
    assert refused(check_observation_space, vector, EnvConfig(id="Mine-v0", frame_stack=4)) == (
        "env.frame_stack = 4: stacks image frames, and env.id = 'Mine-v0' observes "
        "Box(-1.0, 1.0, (4,), float32) (expected 1)"
    )
    assert refused(check_observation_space, uint8_box(84, 84), EnvConfig(id="Mine-v0", normalize_obs=True)) == (
        "env.normalize_obs = true: env.id = 'Mine-v0' observes images, which the network scales itself (expected false)"
    )


@pytest.mark.parametrize(
    "layout, stack, shape", [("hw", 1, (1, 10, 10)), ("hwc", 1, (3, 10, 10)), ("chw", 2, (6, 10, 10))]
)
def test_image_envs_reach_the_agent_channels_first(layout, stack, shape):
    cfg = env_config(id=CATCH, kwargs={"layout": layout}, frame_stack=stack)
    info = inspect_env(cfg)
    assert (info.obs_shape, info.obs_dim, info.frame_stack, info.image) == (shape, int(np.prod(shape)), stack, True)
    assert info.frame_shape == (shape[0] // stack, 10, 10)
    env = make_env(cfg)
    try:
        obs, _ = env.reset(seed=1)
        assert obs.shape == shape and obs.dtype == np.uint8
        raw = env.unwrapped._board()
        for channel in obs:
            assert np.array_equal(channel, raw)  # every stacked frame repeats the first at reset
        obs, *_ = env.step(catch_env.STAY)
        frame = info.frame_shape[0]
        assert np.array_equal(obs[-frame:][0], env.unwrapped._board())
        if stack > 1:
            assert np.array_equal(obs[0], raw)  # the previous frame, kept
    finally:
        env.close()


def test_vector_envs_keep_their_info():
    info = inspect_env(EnvConfig())
    assert (info.obs_dim, info.obs_shape, info.frame_stack, info.image, info.action_meanings) == (4, (4,), 1, False, ())


# --------------------------------------------------------------------------- Atari

ALE = {"repeat_action_probability": 0.0, "frame_stack": 4, "terminal_on_life_loss": True}


def atari_env(game: str, **keys):
    pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    return make_env(env_config(id=f"ALE/{game}-v5", **{**ALE, **keys}))


def test_atari_env_has_the_dqn_preprocessing():
    env = atari_env("Breakout", clip_reward=1.0)
    try:
        pre = find_wrapper(env, AtariPreprocessing)
        assert (pre.noop_max, pre.frame_skip, pre.screen_size, pre.grayscale_obs) == (30, 4, (84, 84), True)
        assert not pre.terminal_on_life_loss  # a lost life ends nothing but the learner's TD target
        assert find_wrapper(env, FrameStackObservation).stack_size == 4
        assert find_wrapper(env, FireOnStart) and find_wrapper(env, LifeLossSignal)
        ale = env.unwrapped
        assert ale._frameskip == 1 and ale.ale.getFloat("repeat_action_probability") == 0.0
    finally:
        env.close()


def test_atari_episode_logs_raw_returns_learns_on_clipped_ones_and_signals_lost_lives():
    env = atari_env("Breakout", clip_reward=0.5)
    rng = np.random.default_rng(0)
    try:
        obs, info = env.reset(seed=1)
        assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8 and info["lives"] == 5
        rewards, lost, done = [], 0, False
        while not done:
            obs, reward, terminated, truncated, info = env.step(int(rng.integers(4)))
            assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
            rewards.append(reward)
            lost += info[LIFE_LOST]
            assert learning_terminal(terminated, info) == (terminated or info[LIFE_LOST])
            done = terminated or truncated
        assert terminated and lost == 4  # five lives: four lost mid-game, the last ends it
        assert set(rewards) <= {0.0, 0.5} and sum(rewards) > 0
        assert info["episode"]["r"] >= 2 * sum(rewards)  # raw: each brick is worth 1 or more
    finally:
        env.close()


def test_fire_starts_every_life():
    """Breakout waits for FIRE after each lost life: a NOOP-only game ends only because it is pressed."""
    env = atari_env("Breakout", max_episode_steps=2_000)
    try:
        env.reset(seed=1)
        for _ in range(2_000):
            *_, terminated, truncated, info = env.step(0)
            if terminated or truncated:
                break
        assert terminated and info["lives"] == 0
    finally:
        env.close()


def test_atari_info_names_actions_and_layout():
    pytest.importorskip("ale_py")
    info = inspect_env(load_preset(REPO / "presets" / "pong.toml").env)
    assert (info.obs_shape, info.frame_shape, info.n_actions, info.time_limit) == ((4, 84, 84), (1, 84, 84), 6, 0)
    assert info.action_meanings[:2] == ("NOOP", "FIRE")
    assert choose_network("auto", info.obs_shape) == "nature_cnn"


def test_atari_presets_have_cleanrl_values():
    for game in ("pong", "breakout"):
        config = load_preset(REPO / "presets" / f"{game}.toml")
        d, e, r = config.dqn, config.env, config.run
        assert (d.learning_rate, d.buffer_size, d.batch_size, d.target_update, d.gamma) == (1e-4, 10**6, 32, 1000, 0.99)
        assert (d.epsilon_start, d.epsilon_end, d.epsilon_decay, r.total_steps) == (1.0, 0.01, 10**6, 10**7)
        assert (d.warmup_steps, d.train_freq, d.loss, d.max_grad_norm, r.eval_epsilon) == (80_000, 4, "mse", 0.0, 0.05)
        assert (e.frame_stack, e.repeat_action_probability, e.terminal_on_life_loss, e.clip_reward) == (4, 0.0, True, 1)


def test_atari_keys_refused_for_other_envs():
    message = refused(make_env, env_config(frame_skip=2))
    assert message == (
        "env.frame_skip = 2: applies to Atari ids only, and env.id = 'CartPole-v1' is not one "
        "(expected an ALE/Game-v5 id, or the key left out)"
    )
    assert refused(make_env, env_config(terminal_on_life_loss=True)).startswith("env.terminal_on_life_loss = true:")


def test_atari_frameskip_is_cockpits_to_set():
    pytest.importorskip("ale_py")
    cfg = env_config(id="ALE/Pong-v5", kwargs={"frameskip": 4})
    assert refused(make_env, cfg) == (
        "env.kwargs = {'frameskip': 4}: frameskip is cockpit's to set (expected env.frame_skip instead)"
    )


def test_atari_without_the_extra_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ale_py", None)  # `import ale_py` now raises ImportError
    message = refused(inspect_env, env_config(id="ALE/Pong-v5"))
    assert message.startswith("env.id = 'ALE/Pong-v5': Atari needs cockpit's atari extra (")
    assert message.endswith("expected it installed: pip install 'cockpit[atari]'")


def test_atari_without_the_extra_is_bad_input_at_the_cli(tmp_path):
    fake = tmp_path / "fake" / "ale_py"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError(\"No module named 'ale_py'\")\n")
    env = {**os.environ, "PYTHONPATH": str(fake.parent)}
    args = [sys.executable, "-m", "cockpit", str(REPO / "presets" / "pong.toml"), "--no-ui"]
    done = subprocess.run([*args, "--run-dir", str(tmp_path / "run")], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith("pip install 'cockpit[atari]'")
    assert "Traceback" not in done.stderr and not (tmp_path / "run").exists()


def test_a_cartpole_run_imports_nothing_of_atari(tmp_path):
    args = [sys.executable, "-X", "importtime", "-m", "cockpit", str(REPO / "presets" / "cartpole.toml")]
    args += ["--no-ui", "--total-steps", "200", "--run-dir", str(tmp_path / "run")]
    done = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {
        line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "import time:" in line
    }
    assert "gymnasium" in imported and "torch" in imported  # the check sees the run's imports
    assert not imported & {"ale_py", "cv2"}


# --------------------------------------------------------------------------- networks


def test_nature_cnn_takes_uint8_stacks():
    net = networks.build_q_network((4, 84, 84), 6, DQNConfig(network="nature_cnn"))
    obs = torch.randint(0, 256, (5, 4, 84, 84), dtype=torch.uint8)
    q = net(obs)
    assert q.shape == (5, 6) and q.dtype == torch.float32
    convolutions = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convolutions] == [
        (32, (8, 8), (4, 4)),
        (64, (4, 4), (2, 2)),
        (64, (3, 3), (1, 1)),
    ]
    assert net.head[0].out_features == 512
    plain = networks.nature_cnn((4, 84, 84), 6)
    plain.load_state_dict(net.state_dict())
    torch.testing.assert_close(plain(obs), q)  # channels-last changes the memory order, not the result
    assert torch.equal(net(obs.float()), q)  # scaling happens inside, once


def test_small_cnn_for_small_images():
    net = networks.build_q_network((1, 16, 16), 3, DQNConfig())
    assert isinstance(net, networks.ImageQNetwork) and net.head[0].out_features == DQNConfig().hidden_size
    assert net(torch.zeros(2, 1, 16, 16, dtype=torch.uint8)).shape == (2, 3)


def test_the_agent_builds_and_draws_its_mlp_with_networks():
    cfg = DQNConfig()
    ours, theirs = networks.build_q_network((4,), 2, cfg), agent.DQNAgent(4, 2, cfg, "cpu", seed=3).q
    networks.init_weights(ours, torch.Generator().manual_seed(3))
    assert str(ours) == str(theirs)
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "network, shape, expected",
    [
        ("auto", (4,), "mlp"),
        ("auto", (4, 84, 84), "nature_cnn"),
        ("auto", (1, 16, 16), "small_cnn"),
        ("small_cnn", (4, 84, 84), "small_cnn"),
    ],
)
def test_network_chosen_from_the_observation(network, shape, expected):
    assert choose_network(network, shape) == expected


@pytest.mark.parametrize(
    "network, shape, message",
    [
        (
            "mlp",
            (1, 16, 16),
            "dqn.network = 'mlp': the observation is an image (1, 16, 16) (expected 'auto', 'nature_cnn' or "
            "'small_cnn')",
        ),
        ("nature_cnn", (4,), "dqn.network = 'nature_cnn': the observation is a vector (4) (expected 'auto' or 'mlp')"),
        (
            "nature_cnn",
            (1, 16, 16),
            "dqn.network = 'nature_cnn': images of shape (1, 16, 16) are too small for it (expected sides of at "
            "least 36; 'small_cnn' takes 3)",
        ),
    ],
)
def test_network_that_does_not_fit_refused(network, shape, message):
    assert refused(choose_network, network, shape) == message


# --------------------------------------------------------------------------- the catch env


def test_catch_plays_by_its_rules():
    env = catch_env.Catch()
    obs, _ = env.reset(seed=4)
    assert obs.shape == (10, 10) and obs.dtype == np.uint8 and (obs == catch_env.BRIGHT).sum() == 2
    steps, done = 0, False
    while not done:  # follow the ball: always caught
        move = np.sign(env.ball_col - env.paddle) + catch_env.STAY
        obs, reward, done, truncated, _ = env.step(move)
        steps += 1
        assert not truncated
    assert (steps, reward) == (9, 1.0)
    assert env.render() is None
    frame = catch_env.Catch(render_mode="rgb_array")
    frame.reset(seed=0)
    assert frame.render().shape == (80, 80, 3)


def test_catch_random_play_loses_most_games():
    env = catch_env.Catch()
    rng = np.random.default_rng(0)
    returns = []
    for episode in range(200):
        env.reset(seed=episode)
        done = False
        while not done:
            _, reward, done, _, _ = env.step(int(rng.integers(3)))
        returns.append(reward)
    assert -0.95 < np.mean(returns) < -0.5
