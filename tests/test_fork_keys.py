"""What a fork may not change: the keys that shape the observation, the network or the env's dynamics,
Atari's preprocessing included (a fork continues the parent's weights, buffer and emulator)."""

from __future__ import annotations

import pytest

from cockpit.commands.run import FORK_FIXED, check_fork_overrides
from cockpit.engine.atari import ATARI_KEYS
from cockpit.engine.config import ConfigError, build_config

PONG_LIKE = {"env": {"id": "ALE/Pong-v5", "frame_stack": 4, "repeat_action_probability": 0.0}, "dqn": {}, "run": {}}


def test_every_atari_preprocessing_key_is_fixed_on_a_fork():
    assert {f"env.{key}" for key in ATARI_KEYS} <= set(FORK_FIXED)


@pytest.mark.parametrize(
    "key, value",
    [
        ("env.frame_stack", 2),
        ("env.channels_first", True),
        ("env.frame_skip", 3),
        ("env.noop_max", 0),
        ("env.screen_size", 64),
        ("env.grayscale", False),
        ("env.terminal_on_life_loss", True),
        ("env.fire_reset", False),
        ("env.repeat_action_probability", 0.25),
        ("dqn.network", "small_cnn"),
    ],
)
def test_a_fork_refuses_a_change_of_the_image_and_atari_keys(key, value):
    parent = build_config(PONG_LIKE, "parent")
    table, _, name = key.partition(".")
    child_tables = {t: dict(v) for t, v in PONG_LIKE.items()}
    child_tables[table][name] = value
    child = build_config(child_tables, "child")
    with pytest.raises(ConfigError) as refused:
        check_fork_overrides(parent, child)
    message = str(refused.value)
    assert message.startswith(f"--fork: {key} = {value!r}: cannot change on a fork") and "\n" not in message


def test_a_fork_may_still_change_the_learning_rate_of_an_atari_run():
    parent = build_config(PONG_LIKE, "parent")
    check_fork_overrides(parent, build_config({**PONG_LIKE, "dqn": {"learning_rate": 2e-4}}, "child"))
