"""What a full checkpoint holds, and putting it back: everything the loop's future depends on.

Tensors (weights, optimizer, replay buffer, normalizer, torch and numpy global RNG arrays) go to
`state.pt`; everything else (counters, generator states, schedule, live changes) is JSON. Taken at
an episode boundary, before the next reset, so that resuming replays that reset exactly.
"""

from __future__ import annotations

import dataclasses
import random
from typing import TYPE_CHECKING

import numpy as np
import torch

from cockpit.engine.envs import get_obs_stats, set_obs_stats

if TYPE_CHECKING:
    from cockpit.engine.trainer import Trainer


def _np_global_state() -> tuple[dict, torch.Tensor]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)}, torch.from_numpy(
        keys.astype(np.int64)
    )


def capture(trainer: Trainer, kind: str, exact: bool = True) -> tuple[dict, dict]:
    """(tensors, meta) of a trainer; `kind="best"` keeps only the policy and normalizer."""
    t = trainer
    tensors: dict = {"q": t.agent.q.state_dict()}
    stats = get_obs_stats(t.env)
    if stats is not None:
        mean, var, count = stats
        tensors["obs_rms"] = {
            "mean": torch.from_numpy(mean),
            "var": torch.from_numpy(var),
            "count": torch.tensor(count, dtype=torch.float64),
        }
    meta = {
        "kind": kind,
        "step": t.step,
        "episode": t.episode,
        "exact": exact,
        "config": t.config.to_dict(),
        "run_name": t.config.name,
        "compute_path": t.agent.compute_path,
    }
    if kind == "best":
        meta["eval"] = t.last_eval
        return tensors, meta
    np_meta, np_keys = _np_global_state()
    tensors.update(
        target=t.agent.target.state_dict(),
        optimizer=t.agent.optimizer.state_dict(),
        buffer=torch.from_numpy(t.buffer.data[: t.buffer.size].copy()),
        recent_actions=torch.tensor(t._recent_actions, dtype=torch.int64),
        action_counts=torch.tensor(t._action_counts, dtype=torch.int64),
        pending_updates=torch.tensor(t._pending_updates, dtype=torch.float64).reshape(-1, 4),
        log_updates=torch.from_numpy(np.concatenate(t._log_updates) if t._log_updates else np.zeros((0, 4))),
        torch_rng=torch.get_rng_state(),
        numpy_global_keys=np_keys,
    )
    meta.update(
        updates=t.updates,
        buffer_pos=t.buffer.pos,
        buffer_size=t.buffer.size,
        dqn=dataclasses.asdict(t.dqn),
        epsilon_segments=t.epsilon.state_dict(),
        rng=t.rng.bit_generator.state,
        replay_sampler=t.sampler.state_dict(),
        action_space_rng=t.env.action_space.np_random.bit_generator.state,
        python_random=_jsonable(random.getstate()),
        numpy_global=np_meta,
        episode_returns=list(t.episode_returns),
        best_eval=None if t.best_eval == -float("inf") else t.best_eval,
        last_eval=t.last_eval,
        first_step_reaching_target=t.first_step_reaching_target,
        applied_changes=t.applied_changes,
        change_effects=t._change_effects,
        train_time_s=t._train_time,
        eval_time_s=t._eval_time,
        log_lines=t.log.line_counts() if t.log else None,
        alerts=t.health.state_dict(),
    )
    return tensors, meta


def _jsonable(obj):
    return [_jsonable(x) for x in obj] if isinstance(obj, (tuple, list)) else obj


def _tupled(obj):
    return tuple(_tupled(x) for x in obj) if isinstance(obj, list) else obj


def obs_stats_from_tensors(tensors: dict) -> tuple | None:
    rms = tensors.get("obs_rms")
    return None if rms is None else (rms["mean"].numpy(), rms["var"].numpy(), float(rms["count"]))


def restore_policy(trainer: Trainer, tensors: dict) -> None:
    trainer.agent.q.load_state_dict(tensors["q"])
    stats = obs_stats_from_tensors(tensors)
    if stats is not None:
        set_obs_stats(trainer.env, stats, frozen=False)
        set_obs_stats(trainer.eval_env, stats, frozen=True)


def restore(trainer: Trainer, tensors: dict, meta: dict, restore_rngs: bool = True) -> None:
    """Put a full checkpoint back into a freshly built trainer of the same config."""
    t = trainer
    restore_policy(t, tensors)
    t.agent.target.load_state_dict(tensors["target"])
    t.agent.optimizer.load_state_dict(tensors["optimizer"])
    t.buffer.load_state_dict(
        {"data": tensors["buffer"].numpy(), "pos": meta["buffer_pos"], "size": meta["buffer_size"]}
    )
    t._recent_actions = tensors["recent_actions"].tolist()
    t._action_counts = tensors["action_counts"].tolist()
    t._pending_updates = tensors["pending_updates"].tolist()
    t._log_updates = [tensors["log_updates"].numpy()] if len(tensors["log_updates"]) else []
    t.step, t.episode, t.updates = meta["step"], meta["episode"], meta["updates"]
    t.dqn = dataclasses.replace(t.dqn, **meta["dqn"])
    t.agent.set_learning_rate(t.dqn.learning_rate)
    t.epsilon.load_state_dict(meta["epsilon_segments"])
    t.episode_returns.extend(meta["episode_returns"])
    t.best_eval = -float("inf") if meta["best_eval"] is None else meta["best_eval"]
    t.last_eval = meta["last_eval"]
    t.first_step_reaching_target = meta["first_step_reaching_target"]
    t.applied_changes = list(meta["applied_changes"])
    t._change_effects = list(meta["change_effects"])
    t._train_time, t._eval_time = meta["train_time_s"], meta["eval_time_s"]
    if isinstance(meta.get("alerts"), dict):  # absent in checkpoints from before the alerts kept a state
        t.health.load_state_dict(meta["alerts"])
    if restore_rngs:
        t.rng.bit_generator.state = meta["rng"]
        if "replay_sampler" in meta:  # checkpoints from before the sampler drew replay from `rng`
            t.sampler.load_state_dict(meta["replay_sampler"])
        t.env.action_space.np_random.bit_generator.state = meta["action_space_rng"]
        random.setstate(_tupled(meta["python_random"]))
        g = meta["numpy_global"]
        np.random.set_state(
            (g["name"], tensors["numpy_global_keys"].numpy().astype(np.uint32), g["pos"], g["has_gauss"], g["cached"])
        )
        torch.set_rng_state(tensors["torch_rng"])
