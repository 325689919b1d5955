"""Evaluation: its own env, its own fixed reset seeds, no updates, no training RNG drawn.

Greedy by default; with `run.eval_epsilon` a random action at that rate, from generators of the
evaluation's own (seeded per episode from the run seed). Two evaluations of the same weights give
the same numbers, and evaluating at any moment leaves the training trajectory untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from cockpit.engine.contract import Evaluation
from cockpit.engine.envs import get_obs_stats, set_obs_stats


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

    def at(self, step: int, scheduled: bool) -> Evaluation:
        """The evaluation of the policy at `step`, as the front ends and the run's files see it."""
        return Evaluation(step, scheduled, self.mean, self.std, tuple(self.returns), tuple(self.lengths))


def freeze_normalizer(eval_env: gym.Env, train_env: gym.Env | None) -> None:
    """Give the eval env the training normalizer's statistics, and stop it updating them."""
    set_obs_stats(eval_env, get_obs_stats(train_env) if train_env is not None else None, frozen=True)


def evaluate(
    act: Callable[[np.ndarray], int],
    env: gym.Env,
    seeds: list[int],
    record_first: bool = False,
    epsilon: float = 0.0,
    action_seeds: list[int] | None = None,
) -> EvalResult:
    """Run one episode per reset seed; raw returns come from RecordEpisodeStatistics. `epsilon` > 0
    takes a random action at that rate, drawn from a generator seeded by `action_seeds[i]` (required
    then); at 0 nothing is drawn."""
    returns: list[float] = []
    lengths: list[int] = []
    frames: list = []
    if epsilon > 0 and (action_seeds is None or len(action_seeds) < len(seeds)):
        raise ValueError("evaluation with epsilon > 0: expected an action seed per episode")
    n_actions = int(getattr(env.action_space, "n", 0))
    for i, seed in enumerate(seeds):
        obs, _ = env.reset(seed=seed)
        recording = record_first and i == 0
        if recording:
            frames.append(env.render())
        explore = None
        if epsilon > 0:
            assert action_seeds is not None
            explore = np.random.Generator(np.random.PCG64(action_seeds[i]))
        while True:
            if explore is not None and explore.random() < epsilon:
                action = int(explore.integers(n_actions))
            else:
                action = act(obs)
            obs, _, terminated, truncated, info = env.step(action)
            if recording:
                frames.append(env.render())
            if terminated or truncated:
                returns.append(float(info["episode"]["r"]))
                lengths.append(int(info["episode"]["l"]))
                break
    return EvalResult(returns, lengths, frames)


def evaluate_checkpoint(path, episodes: int | None = None, seed: int | None = None, gif=None) -> dict:
    """Greedy evaluation of a saved policy (a run directory's `best`, or a named checkpoint). A GIF
    target that cannot be written is refused before the evaluation, not after it."""
    from cockpit.engine import checkpoints, seeding
    from cockpit.engine.agent import greedy_policy
    from cockpit.engine.checkpoint_state import obs_stats_from_tensors
    from cockpit.engine.config import ConfigError, build_config
    from cockpit.engine.envs import make_env

    if gif:
        from cockpit.engine.recording import check_output_file, check_pillow, save_gif

        check_pillow()
        check_output_file(gif, f"--gif {gif}")
    checkpoint = checkpoints.find(path, prefer="best")
    tensors, meta = checkpoints.load(checkpoint)
    config = build_config(meta["config"], f"{checkpoint}/meta.json", name=meta.get("run_name", "custom"))
    env = make_env(config.env)
    if gif:
        renders = "rgb_array" in (env.metadata.get("render_modes") or [])
        env.close()
        if not renders:
            raise ConfigError(
                f"--gif {gif}: {config.env.id} has no rgb_array rendering (expected an env that renders frames)"
            )
        from cockpit.engine.rendering import offscreen_sdl

        offscreen_sdl()
        env = make_env(config.env, render_mode="rgb_array")
    try:
        try:
            actions = env.action_space
            assert isinstance(actions, gym.spaces.Discrete)  # make_env refuses any other
            act = greedy_policy(tensors["q"], tuple(env.observation_space.shape or ()), int(actions.n), config.dqn)
        except (KeyError, RuntimeError) as e:
            raise checkpoints.CheckpointError(
                f"{checkpoint}: weights do not fit the network of its config ({e})"
            ) from None
        set_obs_stats(env, obs_stats_from_tensors(tensors), frozen=True)

        seed = config.run.seed if seed is None else seed
        episodes = episodes or config.run.eval_episodes
        result = evaluate(
            act,
            env,
            seeding.eval_seeds(seed, episodes),
            record_first=bool(gif),
            epsilon=config.run.eval_epsilon,
            action_seeds=seeding.eval_action_seeds(seed, episodes),
        )
    finally:
        env.close()
    if gif:
        save_gif(result.frames, gif)
    return {
        "checkpoint": str(checkpoint),
        "step": meta["step"],
        "seed": seed,
        **result.to_dict(),
        "gif": str(gif) if gif else None,
    }
