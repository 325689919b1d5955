"""Rolling back a live change: where `cockpit --fork RUN_DIR --before-change K` starts from.

Each live change records the last full checkpoint before it, which retention then never rotates
out. From that checkpoint the run's changes between it and K are applied again at the steps they
took effect, so the new run continues exactly as the old one did up to the K-th change, and not
past it. Where no full checkpoint of the run precedes the change, it starts where the run started:
its first step (replayed), or for a fork its parent's checkpoint (forked again).

Changes are numbered per run, from 1, as its events.jsonl, the events pane and `ctl` show them; a
fork's inherited changes are its parent's and keep the parent's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cockpit.engine import checkpoints
from cockpit.engine.config import ConfigError


@dataclass(frozen=True)
class RollbackPlan:
    checkpoint: Path | None
    """Where the new run starts: a checkpoint of the run or of its parent; None replays from step 0."""
    own_checkpoint: bool
    """The checkpoint is the run's own (its config is in its metadata), not its parent's."""
    meta: dict | None
    """The checkpoint's metadata, checked."""
    changes: list[dict]
    """The run's changes to apply again, each at the step it took effect."""
    line: str
    """What the rollback does, in one line."""


def own_changes(changes: list[dict]) -> list[dict]:
    """The changes a run made itself: not those a fork inherited from its parent."""
    return [c for c in changes if not c.get("inherited")]


def before_change(run_dir: Path, number: int) -> RollbackPlan:
    from cockpit.engine.history import read_live_changes, read_metadata

    run_dir = Path(run_dir)
    where = f"--fork {run_dir} --before-change {number}"
    changes = read_live_changes(run_dir, where)
    if not 1 <= number <= len(changes):
        raise ConfigError(
            f"{where}: the run recorded {len(changes)} live changes (expected K from 1 to {len(changes)})"
            if changes
            else f"{where}: the run recorded no live change (expected a run with one)"
        )
    earlier = [
        {"step": e["step"], "key": e["key"], "value": e["new"], "source": "rollback", "was": e.get("source")}
        for e in changes[: number - 1]
    ]
    change = changes[number - 1]
    what = (
        f"rolling back change {number} ({change['key']} {change['old']} → {change['new']} at step {change['step']:,})"
    )
    pinned = change.get("checkpoint")
    if pinned:
        checkpoint = checkpoints.checkpoints_dir(run_dir) / Path(pinned).name
        if not (checkpoint / checkpoints.META).is_file():
            raise ConfigError(
                f"{where}: {checkpoint}, the checkpoint pinned before change {number}, is gone "
                "(expected it in the run directory: pinned checkpoints are never rotated out)"
            )
        meta = checkpoints.load_full_meta(checkpoint)
        again = earlier[len(own_changes(meta["applied_changes"])) :]
        return RollbackPlan(
            checkpoint,
            True,
            meta,
            again,
            f"{what}: from {checkpoint} at step {meta['step']:,}"
            + (f", applying the {len(again)} changes since it again" if again else ""),
        )
    parent = read_metadata(run_dir).get("parent")
    if not parent:
        return RollbackPlan(
            None,
            False,
            None,
            earlier,
            f"{what}: no full checkpoint precedes it, so the run is replayed "
            "from its start" + (f" with the {len(earlier)} changes before it" if earlier else ""),
        )
    checkpoint = Path(str(parent.get("checkpoint", "")))
    if not (checkpoint / checkpoints.META).is_file():
        raise ConfigError(
            f"{where}: no checkpoint of the fork precedes the change, and its parent's checkpoint "
            f"{checkpoint} is gone (expected it where the fork started)"
        )
    # The fork's --set values come back as the new fork's own overrides: not applied twice.
    again = [c for c in earlier if c["was"] != "fork"]
    return RollbackPlan(
        checkpoint,
        False,
        checkpoints.load_full_meta(checkpoint),
        again,
        f"{what}: no checkpoint of the fork precedes it, so it is forked "
        f"again from its parent's {checkpoint}" + (f" with the {len(again)} changes before it" if again else ""),
    )
