"""A preallocated replay buffer: one packed float32 row per transition.

Row layout: obs | next_obs | action | reward | terminated. Packing makes a batch one fancy-index
operation and one copy, instead of five; actions are small integers, exact in float32.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class ReplayBatch(NamedTuple):
    obs: np.ndarray
    next_obs: np.ndarray
    actions: np.ndarray  # int64
    rewards: np.ndarray
    terminated: np.ndarray  # 1.0 where the episode ended in a terminal state (not a time limit)


class ReplayBuffer:
    def __init__(self, capacity: int, obs_dim: int):
        self.capacity = capacity
        self.obs_dim = obs_dim
        self.data = np.zeros((capacity, 2 * obs_dim + 3), dtype=np.float32)
        self.pos = 0
        self.size = 0

    def add(self, obs: np.ndarray, next_obs: np.ndarray, action: int, reward: float, terminated: bool) -> None:
        row = self.data[self.pos]
        d = self.obs_dim
        row[:d] = obs
        row[d : 2 * d] = next_obs
        row[2 * d] = action
        row[2 * d + 1] = reward
        row[2 * d + 2] = terminated
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample_rows(self, rng: np.random.Generator, batch_size: int) -> np.ndarray:
        """Packed rows drawn uniformly with replacement from the filled part."""
        return self.data.take(rng.integers(0, self.size, size=batch_size), axis=0)  # the method: no dispatch layer

    def unpack(self, rows: np.ndarray) -> ReplayBatch:
        d = self.obs_dim
        return ReplayBatch(
            obs=rows[:, :d],
            next_obs=rows[:, d : 2 * d],
            actions=rows[:, 2 * d].astype(np.int64),
            rewards=rows[:, 2 * d + 1],
            terminated=rows[:, 2 * d + 2],
        )

    def sample(self, rng: np.random.Generator, batch_size: int) -> ReplayBatch:
        return self.unpack(self.sample_rows(rng, batch_size))

    def state_dict(self) -> dict:
        return {"data": self.data[: self.size].copy(), "pos": self.pos, "size": self.size}

    def load_state_dict(self, state: dict) -> None:
        size = int(state["size"])
        if state["data"].shape != (size, self.data.shape[1]) or size > self.capacity:
            raise ValueError(f"replay buffer of shape {state['data'].shape} does not fit {self.data.shape}")
        self.data[:size] = state["data"]
        self.pos, self.size = int(state["pos"]), size
