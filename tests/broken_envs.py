"""Deliberately broken Gymnasium environments, one fault each, for `cockpit check` and `cockpit play`.

Importing this module registers them as `cockpit-tests/NAME-v0`; a preset names them as
`env.id = "broken_envs:cockpit-tests/NAME-v0"` (with tests/ on PYTHONPATH), which is how a
user's own module is given. All but Corridor are CartPole with one thing wrong, so each check
that fires is attributable to that one fault.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control import CartPoleEnv

NAMESPACE = "cockpit-tests"


class WrongSign(CartPoleEnv):
    """-1 per step while the pole stays up: ending the episode (dropping the pole) is now the best move."""

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, -reward, terminated, truncated, info


class ZeroReward(CartPoleEnv):
    """Forgets to return the reward."""

    def step(self, action):
        obs, _, terminated, truncated, info = super().step(action)
        return obs, 0.0, terminated, truncated, info


class NoEffect(CartPoleEnv):
    """Ignores the action: every action pushes left."""

    def step(self, action):
        return super().step(0)


class OutOfSpace(CartPoleEnv):
    """Declares every dimension within [-1, 1]; the velocities leave it."""

    def __init__(self, render_mode: str | None = None):
        super().__init__(render_mode=render_mode)
        self.observation_space = spaces.Box(-1.0, 1.0, (4,), np.float32)


class IgnoresSeed(CartPoleEnv):
    """Drops the seed it is given: every reset starts from fresh entropy."""

    def reset(self, *, seed=None, options=None):
        return super().reset(seed=None, options=options)


class Crashes(CartPoleEnv):
    """Raises on its 20th step: a bug in the user's own step()."""

    def reset(self, *, seed=None, options=None):
        self.steps_taken = 0
        return super().reset(seed=seed, options=options)

    def step(self, action):
        self.steps_taken += 1
        if self.steps_taken == 20:
            raise ValueError("boom in step")
        return super().step(action)


class Corridor(gym.Env):
    """A healthy four-cell corridor without rendering: reward 1 on reaching the right end."""

    metadata = {"render_modes": []}
    LENGTH = 3

    def __init__(self):
        self.observation_space = spaces.Box(0.0, float(self.LENGTH), (1,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.position = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position = 0
        return np.array([self.position], np.float32), {}

    def step(self, action):
        self.position = max(0, self.position + (1 if action == 1 else -1))
        reached = self.position == self.LENGTH
        return np.array([self.position], np.float32), float(reached), reached, False, {}


BROKEN = {
    "WrongSign": WrongSign,
    "ZeroReward": ZeroReward,
    "NoEffect": NoEffect,
    "OutOfSpace": OutOfSpace,
    "IgnoresSeed": IgnoresSeed,
    "Crashes": Crashes,
}

for _name, _cls in BROKEN.items():
    gym.register(id=f"{NAMESPACE}/{_name}-v0", entry_point=_cls, max_episode_steps=500)
gym.register(id=f"{NAMESPACE}/Corridor-v0", entry_point=Corridor, max_episode_steps=10)


class NanReward(CartPoleEnv):
    """A reward of NaN from the instance's `NAN_AFTER`-th step on: a bug that makes training diverge."""

    NAN_AFTER = 300

    def step(self, action):
        self.total_steps = getattr(self, "total_steps", 0) + 1
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, (float("nan") if self.total_steps >= self.NAN_AFTER else reward), terminated, truncated, info


gym.register(id=f"{NAMESPACE}/NanReward-v0", entry_point=NanReward, max_episode_steps=500)
