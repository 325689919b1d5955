"""The probes of `cockpit check` that build a Q-network: a learning probe on a fixed batch of random
play, and a pass through the exploration schedule with an untrained network as the greedy policy.
They act in the env the agent sees (`make_env`), images stacked as the trainer stacks them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from cockpit.engine import seeding
from cockpit.engine.agent import DQNAgent
from cockpit.engine.atari import learning_terminal
from cockpit.engine.buffer import ReplayBuffer
from cockpit.engine.config import Config
from cockpit.engine.envs import EnvInfo, make_env
from cockpit.engine.frame_buffer import FrameReplayBuffer
from cockpit.engine.probes import EXPLORATION, NETWORK, TRANSITIONS, ImageStats, quiet, user_level
from cockpit.engine.schedules import LinearSchedule

MEMORIZE_LR = 1e-3
MEMORIZE_STEPS = 1_000
MEMORIZE_TARGET = 1e-4
BURST_UPDATES = 200
EXPLORE_STEPS = 2_000


def set_threads(threads: int) -> None:
    torch.set_num_threads(threads)


# ------------------------------------------------------------------ learning
@dataclass
class LearningReport:
    memorized_loss: float
    memorize_steps: int
    grad_norms: list[float]
    """Norm of each layer's weight gradient after one update (convolutions, then Linear layers)."""
    loss_before: float
    loss_after: float
    batch_size: int
    learning_rate: float


class RandomStep(NamedTuple):
    obs: Any
    next_obs: Any
    action: int
    reward: float
    terminated: bool
    truncated: bool
    info: dict


def random_play(config: Config, enough: Callable[[], bool]) -> Iterator[RandomStep]:
    """Steps of random play in the env the agent sees, seeded from the run's seed, until `enough()`."""
    seed = config.run.seed
    with quiet():
        env = make_env(config.env)
        try:
            env.action_space.seed(seeding.derive(seed, TRANSITIONS))
            episode = 0
            obs, _ = env.reset(seed=seeding.derive(seed, TRANSITIONS, 1))
            while not enough():
                action = int(env.action_space.sample())
                next_obs, reward, terminated, truncated, info = env.step(action)
                yield RandomStep(obs, next_obs, action, float(reward), terminated, truncated, info)
                obs = next_obs
                if terminated or truncated:
                    episode += 1
                    obs, _ = env.reset(seed=seeding.derive(seed, TRANSITIONS, 1 + episode))
        finally:
            env.close()


def random_rows(config: Config, obs_dim: int, count: int) -> np.ndarray:
    """`count` packed replay rows of random play in the env the agent sees."""
    buffer = ReplayBuffer(count, obs_dim)
    for step in random_play(config, lambda: buffer.size >= count):
        buffer.add(step.obs, step.next_obs, step.action, step.reward, step.terminated)
    return buffer.data


def random_frames(config: Config, info: EnvInfo, count: int) -> FrameReplayBuffer:
    """A frame replay holding `count` transitions of random play in the env the agent sees (images),
    stored as the trainer stores them."""
    buffer = FrameReplayBuffer(2 * count + info.frame_stack + 2, info.frame_shape, info.frame_stack, merged=True)
    for step in random_play(config, lambda: buffer.size >= count):
        terminal = learning_terminal(step.terminated, step.info)
        ended = bool(step.terminated or step.truncated)
        buffer.add(step.obs, step.next_obs, step.action, step.reward, terminal, step.truncated, ended)
    return buffer


def weight_grads(net: nn.Module) -> list[torch.Tensor]:
    """The gradients of the convolutions' and Linear layers' weights, as the last update left them."""
    grads = []
    for layer in net.modules():
        if isinstance(layer, nn.Conv2d | nn.Linear):
            if layer.weight.grad is None:
                raise RuntimeError("the learning probe reads gradients before an update has set them")
            grads.append(layer.weight.grad)
    return grads


def learning_probe(config: Config, info: EnvInfo) -> LearningReport:
    """Fit one transition at a known-good rate, then run the preset's own update on one fixed batch.
    The target network is never synced, so the TD targets stay fixed and the loss can only fall."""
    d, device, seed = config.dqn, config.run.device, config.run.seed
    batch: Any
    if info.image:  # a FrameBatch, which the agent's image update takes
        frames = random_frames(config, info, d.batch_size)
        batch, first = frames.gather(np.arange(d.batch_size)), frames.gather(np.zeros(1, np.int64))
    else:
        batch = random_rows(config, info.obs_dim, d.batch_size)
        first = batch[:1]
    obs_shape = info.obs_shape or info.obs_dim
    memorize = dataclasses.replace(d, learning_rate=MEMORIZE_LR)
    agent = DQNAgent(obs_shape, info.n_actions, memorize, device, seeding.derive(seed, NETWORK))
    for steps in range(MEMORIZE_STEPS + 1):
        memorized_loss = agent.update(first, info.obs_dim, memorize)[0]  # the loss before this update
        if memorized_loss < MEMORIZE_TARGET or steps == MEMORIZE_STEPS:
            break

    agent = DQNAgent(obs_shape, info.n_actions, d, device, seeding.derive(seed, NETWORK, 1))
    loss_before = agent.update(batch, info.obs_dim, d)[0]
    grad_norms = [float(grad.norm()) for grad in weight_grads(agent.q)]
    for _ in range(BURST_UPDATES - 1):
        agent.update(batch, info.obs_dim, d)
    loss_after = agent.update(batch, info.obs_dim, d)[0]
    return LearningReport(memorized_loss, steps, grad_norms, loss_before, loss_after, d.batch_size, d.learning_rate)


# ------------------------------------------------------------------ exploration
@dataclass
class ExplorationReport:
    action_counts: np.ndarray
    steps: int
    observations: np.ndarray
    """What the agent saw, one row per step; no rows for images (`images`)."""
    discrete_states: int
    """The number of states of a Discrete observation space (one-hot rows); 0 for a Box."""
    images: ImageStats | None = None
    """The newest frame of each image observation the agent saw, summarised; None for vectors."""


def exploration_pass(config: Config, info: EnvInfo) -> ExplorationReport:
    """Epsilon-greedy play at evenly spaced points of the run's schedule, warm-up included, with an
    untrained network as the greedy policy (the worst case: it often prefers one action everywhere)."""
    d, seed, total = config.dqn, config.run.seed, config.run.total_steps
    steps = min(EXPLORE_STEPS, total)
    schedule = LinearSchedule(d.epsilon_start, d.epsilon_end, d.epsilon_decay)
    agent = DQNAgent(
        info.obs_shape or info.obs_dim, info.n_actions, d, config.run.device, seeding.derive(seed, NETWORK, 2)
    )
    rng = np.random.default_rng(seeding.derive(seed, EXPLORATION))
    counts = np.zeros(info.n_actions, dtype=np.int64)
    images = ImageStats() if info.image else None
    newest = info.frame_shape[0] if info.image else 0  # the channels of an observation's newest frame
    observed: list = []

    def observe(obs: Any, previous: Any = None) -> None:
        if images is None:
            observed.append(obs)
        else:
            images.add(obs[-newest:], None if previous is None else previous[-newest:])

    with quiet():
        env = make_env(config.env)
        try:
            user_space = user_level(env).observation_space
            env.action_space.seed(seeding.derive(seed, EXPLORATION, 1))
            episode = 0
            obs, _ = env.reset(seed=seeding.derive(seed, EXPLORATION, 2))
            observe(obs)
            for i in range(steps):
                run_step = i * total // steps
                explore = run_step < d.warmup_steps or rng.random() < schedule.value(run_step)
                action = int(env.action_space.sample()) if explore else agent.act(obs)
                counts[action] += 1
                previous = obs
                obs, _, terminated, truncated, _ = env.step(action)
                observe(obs, previous)
                if terminated or truncated:
                    episode += 1
                    obs, _ = env.reset(seed=seeding.derive(seed, EXPLORATION, 2 + episode))
                    observe(obs)
        finally:
            env.close()
    discrete = int(user_space.n) if isinstance(user_space, spaces.Discrete) else 0
    return ExplorationReport(counts, steps, np.array(observed, dtype=np.float64), discrete, images)
