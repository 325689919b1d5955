"""One run seed, many independent streams.

Every stream the engine draws from is derived from the run seed and a purpose tag, so that
adding a consumer (an evaluation, a render) never shifts another's numbers.
"""

from __future__ import annotations

import random

import numpy as np

# Purpose tags for derived streams; changing one changes every run's numbers.
TRAIN_RESET = 1
EVAL_RESET = 2
ACTIONS = 3
REWARD_PROBE = 4
RENDER = 5
REPLAY = 6
EVAL_ACTIONS = 7


def derive(seed: int, purpose: int, index: int = 0) -> int:
    """A 32-bit seed for (run seed, purpose, index), e.g. the reset seed of training episode k."""
    return int(np.random.SeedSequence([seed, purpose, index]).generate_state(1)[0])


def seed_globals(seed: int) -> None:
    """Seed python's and numpy's global generators (for user code that relies on them); torch's is
    seeded with the network (`seed_torch`), so that a run's warm-up need not wait for torch to load."""
    random.seed(seed)
    np.random.seed(derive(seed, 0))


def seed_torch(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def eval_seeds(seed: int, episodes: int) -> list[int]:
    """Fixed reset seeds for greedy evaluation: the same weights always give the same numbers."""
    return [derive(seed, EVAL_RESET, i) for i in range(episodes)]


def eval_action_seeds(seed: int, episodes: int) -> list[int]:
    """Seeds of the random actions of evaluation episodes (`run.eval_epsilon`), one per episode, so
    that an episode's exploration does not depend on how long the ones before it lasted."""
    return [derive(seed, EVAL_ACTIONS, i) for i in range(episodes)]
