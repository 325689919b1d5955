"""Greedy evaluation: its own env, its own fixed reset seeds, no updates, no training RNG drawn.

Two evaluations of the same weights give the same numbers, and evaluating at any moment leaves
the training trajectory untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import gymnasium as gym
import numpy as np

from cockpit.engine.envs import obs_normalizer


@dataclass
class EvalResult:
    returns: list[float]
    lengths: list[int]
    frames: list[np.ndarray] = field(default_factory=list)  # first episode, when recording

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))

    def to_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "returns": self.returns, "lengths": self.lengths}


def freeze_normalizer(eval_env: gym.Env, train_env: gym.Env | None) -> None:
    """Give the eval env the training normalizer's statistics, and stop it updating them."""
    target = obs_normalizer(eval_env)
    if target is None:
        return
    target.update_running_mean = False
    source = obs_normalizer(train_env) if train_env is not None else None
    if source is not None:
        target.obs_rms.mean = source.obs_rms.mean.copy()
        target.obs_rms.var = source.obs_rms.var.copy()
        target.obs_rms.count = source.obs_rms.count


def evaluate(
    act: Callable[[np.ndarray], int],
    env: gym.Env,
    seeds: list[int],
    record_first: bool = False,
) -> EvalResult:
    """Run one greedy episode per seed; raw returns come from RecordEpisodeStatistics."""
    returns, lengths, frames = [], [], []
    for i, seed in enumerate(seeds):
        obs, _ = env.reset(seed=seed)
        recording = record_first and i == 0
        if recording:
            frames.append(env.render())
        while True:
            obs, _, terminated, truncated, info = env.step(act(obs))
            if recording:
                frames.append(env.render())
            if terminated or truncated:
                returns.append(float(info["episode"]["r"]))
                lengths.append(int(info["episode"]["l"]))
                break
    return EvalResult(returns, lengths, frames)
