"""Measurements behind `cockpit check`: random rollouts, Gymnasium's checker, action and seeding
probes (network_probes.py has those that build a network). `checks` and `env_checks` judge them.

These act in the env as `gym.make` builds it (the user's own rewards, observations and spaces);
network_probes' act in the env the agent sees (`make_env`, with one-hot encoding, normalization,
clipping and frame stacking as the preset sets them). The envs' own warnings are silenced (`quiet`):
what they say is measured and reported as check items.

Image observations are summarised as they come (`ImageStats`) rather than kept: an Atari rollout's
frames as float rows would take gigabytes, and the checks speak of pixels, not of 28,224 dimensions.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from gymnasium.wrappers import RecordEpisodeStatistics

from cockpit.engine import seeding
from cockpit.engine.config import Config
from cockpit.engine.envs import find_wrapper, make_env, reward_range
from cockpit.engine.observations import is_image_space

# Purpose tags of the check's own streams, apart from a run's (see seeding).
ROLLOUTS, BEHAVIOUR, TRANSITIONS, NETWORK, EXPLORATION = 101, 102, 103, 104, 105

EPISODES = 20
EPISODE_CAP = 2_000
"""Steps after which a random episode is cut (counted as neither terminated nor truncated)."""
PROBES = 5
REPLAY_STEPS = 20
BENIGN_CHECKER_NOTES = ("minimum value is -infinity", "maximum value is infinity")
"""Gymnasium's notes on unbounded Box dimensions: an MLP takes such observations as they come."""


def user_level(env: gym.Env) -> gym.Env:
    """The env below the engine's wrappers: make_env wraps the user's env in RecordEpisodeStatistics first."""
    stats = find_wrapper(env, RecordEpisodeStatistics)
    assert stats is not None, "make_env wraps every env in RecordEpisodeStatistics"
    return stats.env


@contextmanager
def user_env(config: Config) -> Iterator[gym.Env]:
    """The env as `gym.make` builds it (time limit and Gymnasium's checkers), without the engine's wrappers."""
    env = make_env(config.env)
    try:
        yield user_level(env)
    finally:
        env.close()


@contextmanager
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def one_line(text: str) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(text))
    return " ".join(text.removeprefix("WARN: ").split())


class ImageStats:
    """Image observations summarised step by step, the frames themselves not kept: the pixel range,
    and which pixels change from one observation to the next within an episode."""

    def __init__(self) -> None:
        self.shape: tuple[int, ...] = ()
        self.low, self.high = 255, 0
        self.seen = 0
        self.steps = 0
        """Observations compared with the one before them."""
        self.changed = 0.0
        """The sum over those steps of the share of pixels that changed."""
        self.still = 0
        """Steps whose observation equals the one before it."""
        self.ever: np.ndarray | None = None
        """Pixels that changed in some step."""

    def add(self, obs: np.ndarray, previous: np.ndarray | None = None) -> None:
        x = np.asarray(obs)
        self.shape, self.seen = x.shape, self.seen + 1
        self.low, self.high = min(self.low, int(x.min())), max(self.high, int(x.max()))
        if previous is None:
            return
        differs = x != np.asarray(previous)
        self.steps += 1
        self.changed += float(differs.mean())
        self.still += not differs.any()
        self.ever = differs if self.ever is None else self.ever | differs

    @property
    def mean_changed(self) -> float:
        return self.changed / self.steps if self.steps else 0.0

    @property
    def ever_changed(self) -> float:
        return float(self.ever.mean()) if self.ever is not None else 0.0


# ------------------------------------------------------------------ random rollouts
@dataclass
class Rollouts:
    """Random-policy episodes in the user's env: raw rewards and observations."""

    rewards: list[np.ndarray]
    """Per episode, the reward of each step."""
    terminal_rewards: list[float]
    """The reward of the last step of each terminated episode."""
    lengths: list[int]
    terminated: int
    truncated: int
    observations: np.ndarray
    """Every reset and step observation, one flattened row each; no rows for images (`images`)."""
    space: str
    box: bool
    outside_count: int
    first_outside: str
    images: ImageStats | None = None
    """The image observations' summary; None for vectors."""


def random_rollouts(config: Config) -> Rollouts:
    seed = config.run.seed
    rewards, terminal_rewards, lengths, observed = [], [], [], []
    ends = {"terminated": 0, "truncated": 0}
    outside: list = []
    outside_count = 0
    with quiet(), user_env(config) as env:
        space = env.observation_space
        images = ImageStats() if is_image_space(space) else None

        def observe(obs: Any, previous: Any = None) -> None:
            nonlocal outside_count
            if not space.contains(obs):
                outside_count += 1
                if not outside:
                    outside.append(obs)
            if images is None:
                observed.append(obs)
            else:
                images.add(obs, previous)

        env.action_space.seed(seeding.derive(seed, ROLLOUTS))
        for episode in range(EPISODES):
            obs, _ = env.reset(seed=seeding.derive(seed, ROLLOUTS, 1 + episode))
            observe(obs)
            episode_rewards: list[float] = []
            terminated = truncated = False
            while not (terminated or truncated) and len(episode_rewards) < EPISODE_CAP:
                previous = obs
                obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
                observe(obs, previous)
                episode_rewards.append(float(reward))
            rewards.append(np.array(episode_rewards))
            lengths.append(len(episode_rewards))
            if terminated:
                ends["terminated"] += 1
                terminal_rewards.append(episode_rewards[-1])
            elif truncated:
                ends["truncated"] += 1
    return Rollouts(
        rewards=rewards,
        terminal_rewards=terminal_rewards,
        lengths=lengths,
        **ends,
        observations=np.array([np.asarray(obs, dtype=np.float64).ravel() for obs in observed]),
        space=one_line(str(space)),
        box=isinstance(space, spaces.Box),
        outside_count=outside_count,
        first_outside=why_outside(space, outside[0]) if outside else "",
        images=images,
    )


def why_outside(space: spaces.Space, obs: object) -> str:
    if not isinstance(space, spaces.Box):
        return f"{obs!r}"
    x = np.asarray(obs)
    if x.shape != space.shape:
        return f"shape {x.shape} (declared {space.shape})"
    for beyond, bound, word in ((x > space.high, space.high, "above high"), (x < space.low, space.low, "below low")):
        index = np.flatnonzero(beyond.ravel())
        if len(index):
            i = int(index[0])
            return f"x{i} = {x.ravel()[i]:.3g} {word} {bound.ravel()[i]:.3g}"
    return f"dtype {x.dtype} (declared {space.dtype})"


# ------------------------------------------------------------------ Gymnasium's checker
@dataclass
class CheckerReport:
    warnings: list[str]
    notes: list[str]
    error: str | None


def gymnasium_checker(config: Config) -> CheckerReport:
    """`check_env` on the unwrapped env (render checks skipped: `cockpit play` shows the renders)."""
    with warnings.catch_warnings(record=True) as caught, user_env(config) as env:
        warnings.simplefilter("always")
        try:
            check_env(env.unwrapped, skip_render_check=True)
            error = None
        except Exception as e:  # the checker's assertions, or whatever the env raises under it: reported
            error = f"{type(e).__name__}: {one_line(str(e))}"
    messages = list(dict.fromkeys(one_line(str(w.message)) for w in caught))
    notes = [m for m in messages if any(b in m for b in BENIGN_CHECKER_NOTES)]
    return CheckerReport([m for m in messages if m not in notes], notes, error)


# ------------------------------------------------------------------ actions and seeding
@dataclass
class Behaviour:
    n_actions: int
    probes: int
    deterministic: bool
    """The same action from the same seeded state led to the same next state."""
    same_effect: np.ndarray
    """[a, b]: actions a and b led to the same next state in every probed state."""
    reset_reproducible: bool
    diverged_at: int | None
    """The step at which a replay of the same seed and actions first differed."""
    replayed: int


def _trajectory(env: gym.Env, reset_seed: int, actions: list[int]) -> tuple[list, int | None]:
    """Observations from a seeded reset through `actions`, and the index of the action that ended it."""
    obs, _ = env.reset(seed=reset_seed)
    observed = [obs]
    for i, action in enumerate(actions):
        obs, _, terminated, truncated, _ = env.step(action)
        observed.append(obs)
        if terminated or truncated:
            return observed, i
    return observed, None


def _same(a: object, b: object) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b))


def _first_difference(first: list, second: list) -> int | None:
    for i, (a, b) in enumerate(zip(first, second, strict=False)):
        if not _same(a, b):
            return i
    return None if len(first) == len(second) else min(len(first), len(second))


def behaviour_probe(config: Config) -> Behaviour:
    """Replays from seeded resets: reproducibility, then each action's next state from the same states."""
    seed = config.run.seed
    rng = np.random.default_rng(seeding.derive(seed, BEHAVIOUR))
    with quiet(), user_env(config) as env:
        n = int(cast(spaces.Discrete, env.action_space).n)  # make_env checked it
        actions = [int(a) for a in rng.integers(n, size=REPLAY_STEPS)]
        reset_seed = seeding.derive(seed, BEHAVIOUR, 1)
        (first, _), (second, _) = _trajectory(env, reset_seed, actions), _trajectory(env, reset_seed, actions)
        differ = _first_difference(first, second)
        same_effect, deterministic = np.ones((n, n), dtype=bool), True
        for probe in range(PROBES):
            probe_seed = seeding.derive(seed, BEHAVIOUR, 2 + probe)
            prefix = [int(a) for a in rng.integers(n, size=2 * probe)]
            _, ended = _trajectory(env, probe_seed, prefix)
            prefix = prefix[:ended] if ended is not None else prefix
            outcomes = [_trajectory(env, probe_seed, prefix + [a])[0][-1] for a in range(n)]
            deterministic &= _same(outcomes[0], _trajectory(env, probe_seed, prefix + [0])[0][-1])
            same_effect &= np.array([[_same(x, y) for y in outcomes] for x in outcomes])
    return Behaviour(
        n_actions=n,
        probes=PROBES,
        deterministic=deterministic,
        same_effect=same_effect,
        reset_reproducible=differ != 0,
        diverged_at=differ,
        replayed=len(first) - 1,
    )


def reward_abs_max(config: Config) -> float:
    """The |r| bound a run uses for its Q bound, found as the trainer finds it (the preset's reward
    keys, else random play with the same seed; within the clipping)."""
    with quiet():
        low, high = reward_range(config.env, seeding.derive(config.run.seed, seeding.REWARD_PROBE))
    return max(abs(low), abs(high))
