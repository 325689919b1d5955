"""Rolling back a live change: where `cockpit --fork RUN_DIR --before-change K` starts from.

Each live change records the last full checkpoint before it, which retention then never rotates
out. From that checkpoint the changes between it and K are applied again at the steps they took
effect, so the fork continues exactly as the run did up to the K-th change, and not past it. Where
no full checkpoint precedes the change, the run is replayed from its start with the changes before K.
"""

from __future__ import annotations

from pathlib import Path

from cockpit.engine import checkpoints
from cockpit.engine.config import ConfigError


def before_change(run_dir: Path, number: int) -> tuple[Path | None, list[dict], str]:
    """(the checkpoint to fork from, or None to replay from the start; the changes to apply again;
    a line saying which)."""
    from cockpit.engine.history import read_events

    where = f"--fork {run_dir} --before-change {number}"
    if not (Path(run_dir) / "events.jsonl").is_file():
        raise ConfigError(f"{where}: not a run directory with its events (no events.jsonl; expected --fork RUN_DIR)")
    changes = [e for e in read_events(Path(run_dir) / "events.jsonl") if e["kind"] == "hparam"]
    if not 1 <= number <= len(changes):
        raise ConfigError(f"{where}: the run recorded {len(changes)} live changes (expected K from 1 to {len(changes)})"
                          if changes else f"{where}: the run recorded no live change (expected a run with one)")
    earlier = [{"step": e["step"], "key": e["key"], "value": e["new"], "source": "rollback"} for e in changes[: number - 1]]
    change = changes[number - 1]
    name = change.get("checkpoint")
    if name:
        checkpoint = checkpoints.checkpoints_dir(run_dir) / Path(name).name
        if (checkpoint / checkpoints.META).is_file():
            meta = checkpoints.load_full_meta(checkpoint)
            again = earlier[len(meta["applied_changes"]):]
            return checkpoint, again, (f"rolling back change {number} ({change['key']} {change['old']} → {change['new']} "
                                       f"at step {change['step']:,}): from {checkpoint} at step {meta['step']:,}"
                                       + (f", applying the {len(again)} changes between it and the change again" if again else ""))
    return None, earlier, (f"rolling back change {number} ({change['key']} {change['old']} → {change['new']} at step "
                           f"{change['step']:,}): no full checkpoint precedes it, so the run is replayed from its start"
                           + (f" with the {len(earlier)} changes before it" if earlier else ""))
