"""Atari through ale-py, with the DQN preprocessing of the Nature paper as Gymnasium wrappers.

`ALE/` ids are made with `frameskip=1` so that `AtariPreprocessing` skips frames itself (max-pooling
the last two, which Atari sprites flicker between), with no-op starts, 84x84 grayscale. Two small
wrappers of ours add what CleanRL and Stable-Baselines3 get from their own wrappers: FIRE to start
a game and each new life, and a lost life signalled in `info` rather than ending the episode, so
that the learner may treat it as terminal while the game, and the logged return, go on.

ale_py and cv2 are imported only when an Atari env is made: a CartPole run never loads them.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.wrappers import AtariPreprocessing, TimeLimit

from cockpit.engine.config import ConfigError, EnvConfig

ATARI_NAMESPACE = "ALE/"

ATARI_KEYS = (
    "frame_skip",
    "noop_max",
    "screen_size",
    "grayscale",
    "terminal_on_life_loss",
    "fire_reset",
    "repeat_action_probability",
)
"""EnvConfig keys that only Atari envs read."""

LIFE_LOST = "life_lost"
"""The `info` key true on the step a life was lost (with env.terminal_on_life_loss)."""

_SET_BY_COCKPIT = {"frameskip": "env.frame_skip", "repeat_action_probability": "env.repeat_action_probability"}


def is_atari(env_id: str) -> bool:
    return env_id.startswith(ATARI_NAMESPACE)


def action_meanings(env: gym.Env) -> tuple[str, ...]:
    """The game's names of its actions (`get_action_meanings`, as ALE envs have); () for other envs."""
    meanings = getattr(env.unwrapped, "get_action_meanings", None)
    return tuple(meanings()) if callable(meanings) else ()


def learning_terminal(terminated: bool, info: dict[str, Any]) -> bool:
    """Whether the TD target stops at this transition: the episode ended, or a life was lost where
    env.terminal_on_life_loss asks for it (the wrapper only signals then)."""
    return terminated or bool(info.get(LIFE_LOST, False))


def check_not_atari_keys(cfg: EnvConfig) -> None:
    """Refuse an Atari key set for an env that would ignore it."""
    defaults = EnvConfig()
    for key in ATARI_KEYS:
        value = getattr(cfg, key)
        if value != getattr(defaults, key):
            shown = str(value).lower() if isinstance(value, bool) else repr(value)
            raise ConfigError(
                f"env.{key} = {shown}: applies to Atari ids only, and env.id = {cfg.id!r} is not one "
                f"(expected an {ATARI_NAMESPACE}Game-v5 id, or the key left out)"
            )


def require_extra(env_id: str) -> None:
    """Import ale-py (which registers the `ALE/` ids) and OpenCV, or say which extra to install."""
    try:
        import ale_py
        import cv2  # noqa: F401 (AtariPreprocessing resizes with it; checked here for one message)
    except ImportError as e:
        raise ConfigError(
            f"env.id = {env_id!r}: Atari needs cockpit's atari extra ({e}); expected it installed: "
            "pip install 'cockpit[atari]'"
        ) from None
    gym.register_envs(ale_py)


def make_kwargs(cfg: EnvConfig) -> dict[str, Any]:
    """What `gym.make` gets for an Atari id besides env.kwargs: one emulator frame per step (the
    wrapper skips) and the sticky-action probability."""
    for name, key in _SET_BY_COCKPIT.items():
        if name in cfg.kwargs:
            raise ConfigError(f"env.kwargs = {cfg.kwargs!r}: {name} is cockpit's to set (expected {key} instead)")
    require_extra(cfg.id)
    return {"frameskip": 1, "repeat_action_probability": cfg.repeat_action_probability}


def preprocess(env: gym.Env, cfg: EnvConfig) -> gym.Env:
    """The standard preprocessing on a raw ALE env; frame stacking comes later, as for any image env."""
    try:
        env = AtariPreprocessing(
            env,
            noop_max=cfg.noop_max,
            frame_skip=cfg.frame_skip,
            screen_size=cfg.screen_size,
            terminal_on_life_loss=False,
            grayscale_obs=cfg.grayscale,
        )
    except (ValueError, gym.error.Error) as e:
        raise ConfigError(f"env.id = {cfg.id!r}: the Atari preprocessing refused this env ({e})") from None
    if cfg.fire_reset and "FIRE" in action_meanings(env):
        env = FireOnStart(env)
    if cfg.terminal_on_life_loss:
        env = LifeLossSignal(env)
    if cfg.max_episode_steps:  # in agent steps: gym.make's limit would count emulator frames
        env = TimeLimit(env, cfg.max_episode_steps)
    return env


class FireOnStart(gym.Wrapper):
    """Presses FIRE after reset and after each lost life: Breakout and others wait for it, and a
    policy that has not yet learned to press it would stall."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.fire = action_meanings(env).index("FIRE")
        self.lives = 0

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        obs, _, terminated, truncated, info = self.env.step(self.fire)
        if terminated or truncated:  # a game over on its first frame: start again, unseeded
            obs, info = self.env.reset()
        self.lives = int(info.get("lives", 0))
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = int(info.get("lives", self.lives))
        if lives < self.lives and not (terminated or truncated):
            obs, fire_reward, terminated, truncated, info = self.env.step(self.fire)
            reward = float(reward) + float(fire_reward)
        self.lives = int(info.get("lives", lives))
        return obs, reward, terminated, truncated, info


class LifeLossSignal(gym.Wrapper):
    """Sets `info["life_lost"]` on the step a life was lost (not on the game's last): the episode goes
    on, and the trainer stores the transition as terminal (`learning_terminal`)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.lives = 0

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.lives = int(info.get("lives", 0))
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = int(info.get("lives", self.lives))
        info[LIFE_LOST] = lives < self.lives and not terminated
        self.lives = lives
        return obs, reward, terminated, truncated, info
