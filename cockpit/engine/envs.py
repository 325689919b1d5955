"""Building and checking environments with Gymnasium's own wrappers.

Wrapper order matters: episode statistics are recorded innermost so that logged returns stay raw
(unclipped, unnormalized); one-hot encoding, observation normalization and reward clipping sit
outside it and only change what the agent sees.
"""

from __future__ import annotations

import importlib
import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import ClipReward, NormalizeObservation, RecordEpisodeStatistics, TransformObservation

from cockpit.engine import atari
from cockpit.engine.config import ConfigError, EnvConfig
from cockpit.engine.observations import channels_first_frames, check_observation_space, is_image_space


@dataclass(frozen=True)
class EnvInfo:
    """What the engine needs to know about an env, found once before training starts."""

    obs_dim: int  # every number of the observation, images included
    n_actions: int
    time_limit: int  # 0 when the env has none
    target_return: float  # NaN when neither the preset nor the spec gives one
    obs_shape: tuple[int, ...] = ()  # what the agent sees: (obs_dim,), or (C·frame_stack, H, W) uint8
    frame_stack: int = 1  # frames per image observation; each has obs_shape[0] // frame_stack channels
    action_meanings: tuple[str, ...] = ()  # the game's names of its actions, where it has them (Atari)

    @property
    def image(self) -> bool:
        """Image observations: uint8, channels-first, for a CNN."""
        return len(self.obs_shape) == 3

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """One frame of an image observation, (C, H, W); the frame replay stores each once."""
        channels, height, width = self.obs_shape
        return (channels // self.frame_stack, height, width)


def describe_exception(error: BaseException) -> str:
    """One line for what a user's env or module raised, with where: `ValueError: boom (raised at env.py:12)`."""
    if isinstance(error, SystemExit):
        return f"it called sys.exit({error.code!r})"
    if isinstance(error, SyntaxError) and error.filename:
        return f"{type(error).__name__}: {error.msg} (at {Path(error.filename).name}:{error.lineno})"
    message = " ".join(str(error).split())
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith("<")]
    return f"{text} (raised at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else text


def _import_env_module(env_id: str) -> None:
    """Import the module of a `module:Env-v0` id before gymnasium does: whatever it raises on import,
    sys.exit included, is then bad input naming the module rather than a traceback."""
    module, colon, _ = env_id.partition(":")
    if not colon:
        return
    if not module:
        raise ConfigError(f"env.id = {env_id!r}: no module before ':' (expected module:EnvName-v0, or a registered id)")
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as e:
        if module != e.name and not module.startswith(f"{e.name}."):
            raise ConfigError(
                f"env.id = {env_id!r}: importing module {module!r} failed: {describe_exception(e)}"
            ) from None
        raise ConfigError(
            f"env.id = {env_id!r}: cannot make this environment (No module named {module!r}; "
            "expected a module on PYTHONPATH that registers the env)"
        ) from None
    except (Exception, SystemExit) as e:
        raise ConfigError(f"env.id = {env_id!r}: importing module {module!r} failed: {describe_exception(e)}") from None


def _make_raw(cfg: EnvConfig, render_mode: str | None = None) -> gym.Env:
    if "render_mode" in cfg.kwargs:  # "human" would open a window on every training step
        raise ConfigError(
            f"env.kwargs = {cfg.kwargs!r}: render_mode is cockpit's to set "
            "(expected no render_mode: the r key, eval --gif and play render frames themselves)"
        )
    _import_env_module(cfg.id)
    kwargs = dict(cfg.kwargs)
    if atari.is_atari(cfg.id):
        kwargs.update(atari.make_kwargs(cfg))  # its time limit is applied after frame skipping
    else:
        atari.check_not_atari_keys(cfg)
        if cfg.max_episode_steps:
            kwargs["max_episode_steps"] = cfg.max_episode_steps
    if render_mode:
        kwargs["render_mode"] = render_mode
    try:
        return gym.make(cfg.id, **kwargs)
    except gym.error.Error as e:
        detail = " ".join(str(e).split())
        raise ConfigError(f"env.id = {cfg.id!r}: cannot make this environment ({detail})") from None
    except TypeError as e:
        if cfg.kwargs:
            raise ConfigError(f"env.kwargs = {cfg.kwargs!r}: rejected by {cfg.id} ({e})") from None
        raise ConfigError(f"env.id = {cfg.id!r}: making the environment raised {describe_exception(e)}") from None
    except (Exception, SystemExit) as e:  # the user's constructor, or a module its entry point names
        raise ConfigError(f"env.id = {cfg.id!r}: making the environment raised {describe_exception(e)}") from None


def _one_line(space: spaces.Space) -> str:
    return " ".join(str(space).split())


def check_spaces(env: gym.Env, cfg: EnvConfig) -> None:
    """Refuse what a DQN cannot use, naming the space and what was expected."""
    if not isinstance(env.action_space, spaces.Discrete) or env.action_space.start != 0:
        raise ConfigError(
            f"env.id = {cfg.id!r}: action space {_one_line(env.action_space)} is not supported "
            "(expected Discrete(n) starting at 0: DQN picks one of N actions)"
        )
    check_observation_space(env.observation_space, cfg)


def _one_hot(space: spaces.Discrete) -> Callable[[Any], np.ndarray]:
    eye = np.eye(int(space.n), dtype=np.float32)
    return lambda obs: eye[int(obs) - space.start]


def make_env(cfg: EnvConfig, render_mode: str | None = None) -> gym.Env:
    """The wrapped env the agent acts in; `info["episode"]["r"]` carries the raw return. Images
    reach the agent as (C·frame_stack, H, W) uint8; Atari ids get the DQN preprocessing first
    (cockpit/engine/atari.py), and with env.terminal_on_life_loss `info["life_lost"]`."""
    env = _make_raw(cfg, render_mode)
    if atari.is_atari(cfg.id):
        env = atari.preprocess(env, cfg)
    check_spaces(env, cfg)
    env = RecordEpisodeStatistics(env)
    if is_image_space(env.observation_space):
        env = channels_first_frames(env, cfg)
    if isinstance(env.observation_space, spaces.Discrete):
        n = env.observation_space.n
        env = TransformObservation(env, _one_hot(env.observation_space), spaces.Box(0.0, 1.0, (n,), np.float32))
    if cfg.normalize_obs:
        env = NormalizeObservation(env)
    if cfg.clip_reward:
        env = ClipReward(env, -cfg.clip_reward, cfg.clip_reward)
    return env


def inspect_env(cfg: EnvConfig) -> EnvInfo:
    """Make the env once to validate it and read its sizes; raises ConfigError."""
    env = make_env(cfg)
    try:
        spec = env.spec
        time_limit = (spec.max_episode_steps if spec else None) or 0
        if atari.is_atari(cfg.id):  # the spec's limit would count emulator frames
            time_limit = cfg.max_episode_steps
        target = cfg.target_return
        if math.isnan(target) and spec is not None and spec.reward_threshold is not None:
            target = float(spec.reward_threshold)
        shape = tuple(int(n) for n in env.observation_space.shape or ())
        return EnvInfo(
            obs_dim=int(np.prod(shape)),
            n_actions=int(cast(spaces.Discrete, env.action_space).n),  # check_spaces made sure
            time_limit=int(time_limit),
            target_return=target,
            obs_shape=shape,
            frame_stack=cfg.frame_stack if len(shape) == 3 else 1,
            action_meanings=atari.action_meanings(env),
        )
    finally:
        env.close()


W = TypeVar("W", bound=gym.Wrapper)


def find_wrapper(env: gym.Env, cls: type[W]) -> W | None:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, cls):
            return env
        env = env.env
    return None


def obs_normalizer(env: gym.Env) -> NormalizeObservation | None:
    """The env's NormalizeObservation wrapper, if it has one (its statistics travel with checkpoints)."""
    return find_wrapper(env, NormalizeObservation)


def get_obs_stats(env: gym.Env) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(mean, var, count) of the observation normalizer, copied; None without one."""
    normalizer = obs_normalizer(env)
    if normalizer is None:
        return None
    rms = normalizer.obs_rms
    return rms.mean.copy(), rms.var.copy(), float(rms.count)


def set_obs_stats(env: gym.Env, stats: tuple | None, frozen: bool) -> None:
    """Load normalizer statistics into an env; `frozen` stops them updating (evaluation, renders)."""
    normalizer = obs_normalizer(env)
    if normalizer is None:
        return
    normalizer.update_running_mean = not frozen
    if stats is not None:
        mean, var, count = stats
        normalizer.obs_rms.mean = np.array(mean, dtype=np.float64)
        normalizer.obs_rms.var = np.array(var, dtype=np.float64)
        normalizer.obs_rms.count = float(count)


def raw_return_so_far(env: gym.Env) -> float:
    """The raw (unclipped) return of the episode in progress, from RecordEpisodeStatistics."""
    stats = find_wrapper(env, RecordEpisodeStatistics)
    assert stats is not None, "make_env wraps every env in RecordEpisodeStatistics"
    return float(stats.episode_returns)


def measure_reward_abs_max(cfg: EnvConfig, seed: int, episodes: int = 5, max_steps: int = 5_000) -> float:
    """Largest |reward| seen in random rollouts (`measure_reward_range`)."""
    return max(abs(r) for r in measure_reward_range(cfg, seed, episodes, max_steps))


def measure_reward_range(cfg: EnvConfig, seed: int, episodes: int = 5, max_steps: int = 5_000) -> tuple[float, float]:
    """(smallest, largest) reward seen in random rollouts, in the env's own seeded RNG (not the trainer's).

    It runs before a run starts: an env whose reset or step raises here is refused as bad input
    (the original exception is the ConfigError's `__cause__`, for `cockpit check` to show)."""
    env = make_env(cfg)
    env.action_space.seed(seed)
    low, high, steps = math.inf, -math.inf, 0
    try:
        for episode in range(episodes):
            env.reset(seed=seed + episode)
            done = False
            while not done and steps < max_steps:
                _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
                low, high = min(low, float(reward)), max(high, float(reward))
                done = terminated or truncated
                steps += 1
    except (Exception, SystemExit) as e:
        raise ConfigError(
            f"env.id = {cfg.id!r}: the environment raised {describe_exception(e)} "
            "in random play before training (expected reset() and step() to run)"
        ) from e
    finally:
        env.close()
    return (low, high) if steps else (0.0, 0.0)


def reward_range(cfg: EnvConfig, seed: int) -> tuple[float, float]:
    """The rewards the agent can get, (r_min, r_max): the preset's (`reward_min`/`reward_max`, or
    `reward_abs_max` as ±), else measured in random rollouts; within the clipping where it clips."""
    if math.isfinite(cfg.reward_min) and math.isfinite(cfg.reward_max):
        low, high = cfg.reward_min, cfg.reward_max
    elif cfg.reward_abs_max:
        low, high = -cfg.reward_abs_max, cfg.reward_abs_max
    else:
        low, high = measure_reward_range(cfg, seed)
        low = cfg.reward_min if math.isfinite(cfg.reward_min) else low
        high = cfg.reward_max if math.isfinite(cfg.reward_max) else high
    if cfg.clip_reward:
        low, high = max(low, -cfg.clip_reward), min(high, cfg.clip_reward)
    return low, high


def q_range(rewards: tuple[float, float], gamma: float) -> tuple[float, float]:
    """Where any discounted return lies: [min(r_min, 0), max(r_max, 0)] / (1-γ). Episodes end, hence
    the 0; a time limit does not shorten it, because the loop bootstraps through truncation."""
    if gamma >= 1.0:
        return -math.inf, math.inf
    return min(rewards[0], 0.0) / (1.0 - gamma), max(rewards[1], 0.0) / (1.0 - gamma)


def q_bound(reward_abs_max: float, gamma: float, time_limit: int) -> float:
    """Largest |Q| a policy can earn: r_max·(1-γ^T)/(1-γ), or r_max/(1-γ) without a time limit."""
    if gamma >= 1.0:
        return reward_abs_max * time_limit if time_limit else math.inf
    if not time_limit:
        return reward_abs_max / (1.0 - gamma)
    return reward_abs_max * (1.0 - gamma**time_limit) / (1.0 - gamma)
