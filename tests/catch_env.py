"""Catch: a small image game for tests of image observations, learning, and exact resume and fork.

A pixel falls one row a step from a random column of the top row; a one-pixel paddle on the bottom
row moves left, stays or moves right. When the pixel reaches the bottom row the episode ends with
+1 if the paddle is under it, else -1. Random play loses most games; a policy that follows the
pixel wins all of them, so learning shows in a short run.

Importing this module registers it as `cockpit-tests/Catch-v0`; a preset names it as
`env.id = "catch_env:cockpit-tests/Catch-v0"` (tests/ on PYTHONPATH) or
`"tests.catch_env:cockpit-tests/Catch-v0"` (from the repository root). `layout` picks the
observation's axes, for the layout tests: "hw" (size, size), "hwc" (size, size, 3) or
"chw" (3, size, size), uint8. At the default size of 10 a DQN with the small CNN (dqn.network =
"auto") learns it in a short run; larger boards take much longer.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

NAMESPACE = "cockpit-tests"
ENV_ID = f"{NAMESPACE}/Catch-v0"

LEFT, STAY, RIGHT = 0, 1, 2
BRIGHT = 255
PIXELS_PER_CELL = 8
"""Scale of rgb_array renders (a 10x10 board renders 80x80)."""


class Catch(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, size: int = 10, layout: str = "hw", render_mode: str | None = None):
        if layout not in ("hw", "hwc", "chw"):
            raise ValueError(f"layout = {layout!r}: expected 'hw', 'hwc' or 'chw'")
        self.size, self.layout, self.render_mode = size, layout, render_mode
        shape = {"hw": (size, size), "hwc": (size, size, 3), "chw": (3, size, size)}[layout]
        self.observation_space = spaces.Box(0, BRIGHT, shape, np.uint8)
        self.action_space = spaces.Discrete(3)
        self.ball_row = self.ball_col = self.paddle = 0

    def _board(self) -> np.ndarray:
        board = np.zeros((self.size, self.size), np.uint8)
        board[self.ball_row, self.ball_col] = BRIGHT
        board[self.size - 1, self.paddle] = BRIGHT
        return board

    def _obs(self) -> np.ndarray:
        board = self._board()
        if self.layout == "hwc":
            return np.repeat(board[:, :, None], 3, axis=2)
        if self.layout == "chw":
            return np.repeat(board[None], 3, axis=0)
        return board

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.ball_row = 0
        self.ball_col = int(self.np_random.integers(self.size))
        self.paddle = self.size // 2
        return self._obs(), {}

    def step(self, action):
        self.paddle = int(np.clip(self.paddle + int(action) - STAY, 0, self.size - 1))
        self.ball_row += 1
        terminated = self.ball_row == self.size - 1
        reward = (1.0 if self.paddle == self.ball_col else -1.0) if terminated else 0.0
        return self._obs(), reward, terminated, False, {}

    def get_action_meanings(self) -> list[str]:
        """Its actions' names, as ALE envs give theirs: `cockpit play` plays them on the arrow keys."""
        return ["LEFT", "NOOP", "RIGHT"]

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        frame = np.repeat(self._board()[:, :, None], 3, axis=2)
        return np.kron(frame, np.ones((PIXELS_PER_CELL, PIXELS_PER_CELL, 1), np.uint8))


if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point=Catch)
