"""Playing one greedy episode of a policy snapshot for display, in its own env and thread.

The trainer hands out a copy of its weights at a step boundary (the `policy` command), so a render
never reads weights mid-update and never draws from the trainer's random streams.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass
from typing import cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from cockpit.engine.agent import greedy_policy
from cockpit.engine.config import Config
from cockpit.engine.envs import make_env, raw_return_so_far, set_obs_stats

GIF_MAX_FRAMES = 2_000
"""Frames a render keeps for its GIF: Atari's 210x160 RGB frames are 100 KB each, and a greedy
episode can run for the whole of play_greedy's max_steps."""


@dataclass
class RenderedStep:
    frame: np.ndarray
    step: int
    action: int | None
    reward: float
    episode_return: float
    done: bool


class EpisodeFrames:
    """A rendered episode's frames for its GIF, in bounded memory. Past `limit` frames every other one
    is dropped and the stride doubles: a long Atari episode keeps real, full-size frames, sparser,
    and its GIF plays at `fps(base)` so that it lasts as long as the episode."""

    def __init__(self, limit: int = GIF_MAX_FRAMES):
        self.limit = limit
        self.frames: list[np.ndarray] = []
        self.stride = 1
        self.seen = 0

    def add(self, frame: np.ndarray) -> None:
        if self.seen % self.stride == 0:
            self.frames.append(frame)
            if len(self.frames) > self.limit:
                self.frames = self.frames[::2]
                self.stride *= 2
        self.seen += 1

    def fps(self, base: int) -> int:
        return max(1, round(base / self.stride))


def frame(env: gym.Env) -> np.ndarray:
    """The env's picture now; render_mode rgb_array gives one array."""
    image = env.render()
    assert isinstance(image, np.ndarray), f"render_mode rgb_array gave a {type(image).__name__}"
    return image


def offscreen_sdl() -> None:
    """Frames only: no sound device and no display needed (SDL would otherwise probe them and print
    its complaints over the terminal the cockpit draws on, or into a one-line error's stderr)."""
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


def play_greedy(
    config: Config, policy: dict, seed: int, max_steps: int = 10_000, every: int = 1
) -> Generator[RenderedStep, None, None]:
    """Yield the frames of one greedy episode: the reset frame, every `every`-th step's and the last.
    The steps between are played but not drawn: a render runs beside training in the same process,
    and drawing is most of what it costs. Needs the env's rgb_array renderer (pygame for the
    classic-control envs)."""
    offscreen_sdl()
    env = make_env(config.env, render_mode="rgb_array")
    try:
        obs_shape = tuple(int(n) for n in env.observation_space.shape or ())
        act = greedy_policy(policy["q"], obs_shape, int(cast(spaces.Discrete, env.action_space).n), config.dqn)
        set_obs_stats(env, policy.get("obs_stats"), frozen=True)
        obs, _ = env.reset(seed=seed)
        yield RenderedStep(frame(env), 0, None, 0.0, 0.0, False)
        total = 0.0
        for step in range(1, max_steps + 1):
            action = act(obs)
            obs, _, terminated, truncated, _ = env.step(action)
            reward = raw_return_so_far(env) - total
            total += reward
            done = terminated or truncated
            if done or step % every == 0:
                yield RenderedStep(frame(env), step, action, reward, total, done)
            if done:
                break
    finally:
        env.close()
