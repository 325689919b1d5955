"""The learning check on catch, shared by tests/test_atari_training.py (one seed) and
bench/catch_learning.py (several, in parallel): a DQN with the small CNN trains for LEARNING_STEPS,
and its final greedy evaluation must lie at least halfway from a random policy's mean return to
the maximum (+1)."""

from __future__ import annotations

import time

import catch_env
import numpy as np

from cockpit.engine.config import Config, build_config
from cockpit.engine.trainer import Trainer

LEARNING_STEPS = 6_000
"""MinAtar's small CNN catches (nearly) every ball on a 10x10 board by then, with these settings."""


def learning_config(seed: int) -> Config:
    return build_config(
        {
            "env": {"id": f"catch_env:{catch_env.ENV_ID}"},
            "dqn": {
                "network": "small_cnn",
                "hidden_size": 64,
                "learning_rate": 1e-3,
                "buffer_size": 5_000,
                "batch_size": 32,
                "warmup_steps": 500,
                "train_freq": 1,
                "target_update": 200,
                "epsilon_decay": 3_000,
                "epsilon_end": 0.05,
            },
            "run": {"seed": seed, "total_steps": LEARNING_STEPS, "eval_freq": LEARNING_STEPS, "eval_episodes": 50},
        },
        "catch-learning",
    )


def random_mean_return(episodes: int = 500) -> float:
    env, rng = catch_env.Catch(), np.random.default_rng(0)
    returns = []
    for episode in range(episodes):
        env.reset(seed=episode)
        done, reward = False, 0.0
        while not done:
            _, reward, done, _, _ = env.step(int(rng.integers(3)))
        returns.append(reward)
    return float(np.mean(returns))


def halfway() -> float:
    """The bar: halfway from a random policy's mean return to the maximum, +1."""
    return (random_mean_return() + 1.0) / 2


def final_greedy_return(seed: int) -> tuple[float, float]:
    """(the final evaluation's mean return, the CPU seconds the run took)."""
    started = time.process_time()
    trainer = Trainer(learning_config(seed))
    try:
        summary = trainer.run()
    finally:
        trainer.close()
    evaluation = trainer.progress.last_eval
    assert summary["status"] == "finished" and evaluation is not None and evaluation.step == LEARNING_STEPS
    return evaluation.mean, time.process_time() - started
