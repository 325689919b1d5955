"""A run's checkpoints from the trainer's side: writing one (never of a non-finite state), and
starting a run from one (resume in place, or fork a new run).

What a checkpoint holds is `checkpoint_state`'s; how it lies on disk is `checkpoints`'; an image
run's replay is `replay_checkpoints`'.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.engine import checkpoints, replay_checkpoints, torch_side
from cockpit.engine.config import LIVE_KEYS
from cockpit.engine.contract import RunState
from cockpit.engine.control import reply
from cockpit.engine.health_checks import state_is_finite

if TYPE_CHECKING:
    from cockpit.engine.trainer import Trainer


def write_checkpoint(t: Trainer, kind: str, future: Future | None, exact: bool, at_end: bool) -> Path | None:
    if t.run_dir is None:
        return None
    commands = t.commands
    if not t.diverged and not state_is_finite(t.progress.pending_updates, t.agent.params):
        message = f"non-finite weights or updates at step {t.step:,}, found before a checkpoint: training diverged"
        t.event("alert", name="non_finite", message=message, fatal=True)
        t.health.active.add("non_finite")  # the monitor must not report it a second time
        commands.diverge(message)
    if t.diverged:
        t.event(
            "checkpoint_skipped",
            checkpoint=kind,
            message=f"{kind} checkpoint not written: the state "
            f"is non-finite ({t.diverged.split(':')[0]}); {commands.last_good()}",
        )
        if future is not None:
            future.set_result(reply(False, error="the state is non-finite; no checkpoint written"))
        return None
    t.open_log()
    assert t.log is not None  # a run with a directory has its log once open
    torch_side.load()
    from cockpit.engine import checkpoint_state

    path = checkpoints.path_of(t.run_dir, t.step, kind)
    # The event first, so that the line counts a resume cuts the logs back to include it.
    t.event("checkpoint", checkpoint=kind, path=str(path), exact=exact, **({"at_end": True} if at_end else {}))
    t.log.flush()
    tensors, meta = checkpoint_state.capture(t, kind, exact, t.log.line_counts())
    image = kind != "best" and replay_checkpoints.in_segments(t)
    if image:  # the segments first: the checkpoint that refers to them is committed after
        meta["replay"] = replay_checkpoints.save(t)
    pinned = {Path(c["checkpoint"]).name for c in t.progress.applied_changes if c.get("checkpoint")}
    path = checkpoints.save(t.run_dir, tensors, meta, keep=t.config.run.checkpoint_keep, pinned=pinned)
    if image:
        replay_checkpoints.retain(t)
    if kind != "best":
        t.last_checkpoint = path
    t.store.update_status(last_checkpoint=str(path))
    if future is not None:
        future.set_result(reply(True, step=t.step, path=str(path), exact=exact))
    return path


def resume(t: Trainer, checkpoint: Path, fork: bool) -> dict:
    meta = checkpoints.load_full_meta(checkpoint)
    t.state = RunState.LOADING
    t.store.publish(t.status().replace(step=meta["step"]))
    torch_side.load()
    from cockpit.engine import checkpoint_state

    tensors = checkpoints.load_full_tensors(checkpoint)
    same_seed = meta["config"]["run"]["seed"] == t.config.run.seed
    try:
        checkpoint_state.restore(t, tensors, meta, restore_rngs=same_seed)
    except (KeyError, IndexError, RuntimeError, ValueError, TypeError) as e:
        detail = " ".join(str(e).split())[:300]
        raise checkpoints.CheckpointError(
            f"{checkpoint}: does not fit this run ({type(e).__name__}: {detail})"
        ) from None
    note = replay_checkpoints.restore(t, Path(checkpoint), meta) if replay_checkpoints.in_segments(t) else None
    origin = {"checkpoint": str(Path(checkpoint).resolve()), "from_step": meta["step"], "exact": meta["exact"]}
    if note:
        origin.update(exact=False, replay_dropped=True)
        t.event("warning", message=note)
    if fork:
        t.parent = {**origin, "run_dir": str(checkpoints.run_dir_of(checkpoint))}
        # The parent's changes stay part of the state; the fork numbers its own from 1 and counts
        # its own alerts (the parent's mutes hold).
        t.progress.applied_changes = [{**c, "inherited": True} for c in t.progress.applied_changes]
        t.health.counts.clear()
        # The fork's own values for what cannot change live (loss, double DQN, ...) hold from its first step.
        fixed = {f.name: getattr(t.config.dqn, f.name) for f in dataclasses.fields(t.dqn) if f.name not in LIVE_KEYS}
        t.set_live_values(dataclasses.replace(t.dqn, **fixed))
        overrides = [  # a fork's overrides take effect at its first step, recorded as changes
            {"step": t.step, "key": key, "value": getattr(t.config.dqn, key), "source": "fork"}
            for key in LIVE_KEYS
            if getattr(t.config.dqn, key) != getattr(t.dqn, key)
        ]
        t.scheduled_changes = overrides + t.scheduled_changes
    else:
        t.resumed_from = {**origin, "log_lines": meta.get("log_lines")}
        t.last_checkpoint = Path(checkpoint)
    return meta
