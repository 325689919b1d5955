"""What a full checkpoint holds, and putting it back: everything the loop's future depends on.

Tensors (weights, optimizer, a vector run's replay buffer, normalizer, the run's arrays, torch and
numpy global RNG arrays) go to `state.pt`; everything else (the run's progress, generator states,
schedule, live values, an image run's replay manifest) is JSON. Taken at an episode boundary, before
the next reset, so that resuming replays that reset exactly. The run's own figures come from its
`RunProgress`; the rest from the trainer's public parts (agent, envs, buffer, sampler, generators,
schedule, health monitor).
"""

from __future__ import annotations

import dataclasses
import random
from typing import TYPE_CHECKING

import numpy as np
import torch

from cockpit.engine.buffer import ReplayBuffer
from cockpit.engine.checkpoints import FORMAT, REPLAY_FORMAT
from cockpit.engine.envs import get_obs_stats, set_obs_stats
from cockpit.engine.progress import RunProgress

if TYPE_CHECKING:
    from cockpit.engine.trainer import Trainer


def _np_global_state() -> tuple[dict, torch.Tensor]:
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    assert not isinstance(keys, str)  # the legacy form: a tuple
    return {"name": name, "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)}, torch.from_numpy(
        keys.astype(np.int64)
    )


def capture(t: Trainer, kind: str, exact: bool = True, log_lines: dict | None = None) -> tuple[dict, dict]:
    """(tensors, meta) of a trainer; `kind="best"` keeps only the policy and normalizer. `log_lines`:
    the run log's line counts, which a resume cuts the logs back to."""
    progress = t.progress
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
        "format": FORMAT,
        "kind": kind,
        "step": progress.step,
        "episode": progress.episode,
        "exact": exact,
        "config": t.config.to_dict(),
        "run_name": t.config.name,
        "compute_path": t.agent.compute_path,
    }
    if kind == "best":
        meta["eval"] = None if progress.last_eval is None else progress.last_eval.to_dict()
        return tensors, meta
    np_meta, np_keys = _np_global_state()
    tensors.update(target=t.agent.target.state_dict(), optimizer=t.agent.optimizer.state_dict())
    if isinstance(t.buffer, ReplayBuffer):
        tensors["buffer"] = torch.from_numpy(t.buffer.data[: t.buffer.size].copy())
    tensors.update(
        **{name: torch.from_numpy(array) for name, array in progress.arrays().items()},
        torch_rng=torch.get_rng_state(),
        numpy_global_keys=np_keys,
    )
    meta.update(progress.to_dict())
    if isinstance(t.buffer, ReplayBuffer):
        meta.update(buffer_pos=t.buffer.pos, buffer_size=t.buffer.size)
    else:  # image replay: its segment files' manifest, written by `replay_checkpoints`
        meta.update(format=REPLAY_FORMAT, replay=None)
    meta.update(
        dqn=dataclasses.asdict(t.dqn),
        epsilon_segments=t.epsilon.state_dict(),
        rng=t.rng.bit_generator.state,
        replay_sampler=t.sampler.state_dict(),
        action_space_rng=t.env.action_space.np_random.bit_generator.state,
        python_random=_jsonable(random.getstate()),
        numpy_global=np_meta,
        log_lines=log_lines,
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


def restore_policy(t: Trainer, tensors: dict) -> None:
    t.agent.q.load_state_dict(tensors["q"])
    stats = obs_stats_from_tensors(tensors)
    if stats is not None:
        set_obs_stats(t.env, stats, frozen=False)
        set_obs_stats(t.eval_env, stats, frozen=True)


def restore(t: Trainer, tensors: dict, meta: dict, restore_rngs: bool = True) -> None:
    """Put a full checkpoint (of any format `checkpoints.load_full_meta` accepts) back into a freshly
    built trainer of the same config."""
    restore_policy(t, tensors)
    t.agent.target.load_state_dict(tensors["target"])
    t.agent.optimizer.load_state_dict(tensors["optimizer"])
    if isinstance(t.buffer, ReplayBuffer):  # an image replay comes from its segment files (`replay_checkpoints`)
        t.buffer.load_state_dict(
            {"data": tensors["buffer"].numpy(), "pos": meta["buffer_pos"], "size": meta["buffer_size"]}
        )
    arrays = {
        name: tensors[name].numpy() for name in ("recent_actions", "action_counts", "pending_updates", "log_updates")
    }
    t.progress = RunProgress.from_dict(meta, arrays, t.info.n_actions)
    t.set_live_values(dataclasses.replace(t.dqn, **meta["dqn"]))
    t.epsilon.load_state_dict(meta["epsilon_segments"])
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
