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

    def newest_rewards(self, n: int) -> np.ndarray:
        """The rewards of the last `n` transitions written (fewer when the buffer holds fewer)."""
        n = min(n, self.size)
        rows = np.arange(self.pos - n, self.pos) % self.capacity
        return self.data[rows, 2 * self.obs_dim + 1]

    def unpack(self, rows: np.ndarray) -> ReplayBatch:
        d = self.obs_dim
        return ReplayBatch(
            obs=rows[:, :d],
            next_obs=rows[:, d : 2 * d],
            actions=rows[:, 2 * d].astype(np.int64),
            rewards=rows[:, 2 * d + 1],
            terminated=rows[:, 2 * d + 2],
        )

    def state_dict(self) -> dict:
        return {"data": self.data[: self.size].copy(), "pos": self.pos, "size": self.size}

    def load_state_dict(self, state: dict) -> None:
        size = int(state["size"])
        if state["data"].shape != (size, self.data.shape[1]) or size > self.capacity:
            raise ValueError(f"replay buffer of shape {state['data'].shape} does not fit {self.data.shape}")
        self.data[:size] = state["data"]
        self.pos, self.size = int(state["pos"]), size


class UniformPool:
    """Replay draws from a generator of their own, in blocks: uniform floats in [0, 1) drawn POOL at
    a time, which a sampler scales by what it can draw from when it uses them. Per update that is one
    slice and one multiply, where a draw of integers per update is a Python-level call that costs
    more than the gather (bench/speed.py). The state is the generator's state from before the current
    pool and the position in it, so a restored sampler redraws the same pool and continues bit for bit.
    """

    POOL = 16_384

    def __init__(self, seed: int):
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self._refill()

    def _refill(self) -> None:
        self._pool_state = self.rng.bit_generator.state
        self._pool = self.rng.random(self.POOL)
        self._pos = 0

    def _uniform(self, count: int) -> np.ndarray:
        """The pool's next `count` uniforms (a view), refilling it first where too few are left."""
        if self._pos + count > self.POOL:
            self._refill()
        uniform = self._pool[self._pos : self._pos + count]
        self._pos += count
        return uniform

    def state_dict(self) -> dict:
        return {"pool_state": self._pool_state, "pos": self._pos}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["pool_state"]
        self._refill()
        self._pos = int(state["pos"])


class ReplaySampler(UniformPool):
    """The training loop's replay draws: each uniform scaled by the buffer's size when used, so an
    index is uniform over what the buffer holds at that step (the size still grows during the first
    `capacity` steps)."""

    def __init__(self, buffer: ReplayBuffer, seed: int):
        super().__init__(seed)
        self.buffer = buffer
        self._index = np.empty(0, dtype=np.intp)

    def rows(self, batch_size: int) -> np.ndarray:
        """A batch of packed rows, drawn uniformly with replacement from the filled part."""
        uniform = self._uniform(batch_size)
        if len(self._index) != batch_size:
            self._index = np.empty(batch_size, dtype=np.intp)
        np.multiply(uniform, self.buffer.size, out=self._index, casting="unsafe")  # floor: in [0, size)
        return self.buffer.data.take(self._index, axis=0)
