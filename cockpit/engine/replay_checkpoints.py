"""An image run's replay in its checkpoints: segment files that cost what changed, and the disk
the checkpoints kept beyond the rotation may hold.

A full checkpoint of an image run holds no buffer tensor: its metadata's `replay` is a manifest of
the run's segment files (`replay_segments`), written before the checkpoint is committed, so a kill
at any moment leaves the previous checkpoint whole. Once a checkpoint is committed, segment versions
that no kept checkpoint refers to go. Periodic checkpoints rotate out (`run.checkpoint_keep`);
pinned ones (for rolling a live change back), on-demand ones and earlier stop checkpoints stay, and
so would every buffer version they refer to. Beyond `run.checkpoint_disk_gb` of segments that only
they keep alive, the oldest of them drop their manifest: they keep weights, optimizer and counters,
`replay_dropped` says why, and a fork from one says that it is not exact.
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.engine import checkpoints
from cockpit.engine.checkpoint_checks import ReplaySegmentError
from cockpit.engine.files import write_atomic
from cockpit.engine.frame_buffer import FrameReplayBuffer
from cockpit.engine.replay_segments import SegmentStore, bytes_only_in, replay_dir

if TYPE_CHECKING:
    from cockpit.engine.trainer import Trainer

GB = 1e9
_stores: weakref.WeakKeyDictionary[FrameReplayBuffer, SegmentStore] = weakref.WeakKeyDictionary()
"""The store that last saved or loaded each buffer: it knows which segments changed since."""


def in_segments(t: Trainer) -> bool:
    """Whether the trainer's replay is checkpointed as segment files (image observations)."""
    return isinstance(t.buffer, FrameReplayBuffer)


def _store(buffer: FrameReplayBuffer, run_dir: Path) -> SegmentStore:
    store = _stores.get(buffer)
    if store is None or store.dir != replay_dir(run_dir):
        store = _stores[buffer] = SegmentStore(run_dir)
    return store


def save(t: Trainer) -> dict:
    """Write the segments changed since the last save or load; the manifest for the checkpoint's metadata."""
    assert t.run_dir is not None and isinstance(t.buffer, FrameReplayBuffer)
    return _store(t.buffer, t.run_dir).save(t.buffer)


def restore(t: Trainer, checkpoint: Path, meta: dict) -> str | None:
    """Load the checkpoint's replay into the trainer's buffer, linking a parent's segments into a
    fork's run directory; a note where the checkpoint kept no replay (the run is then not exact)."""
    assert isinstance(t.buffer, FrameReplayBuffer)
    if meta.get("replay") is None:
        return (
            f"{checkpoint.name} kept no replay ({meta.get('replay_dropped', 'dropped')}): "
            "not exact, the buffer fills again from empty"
        )
    manifest = meta["replay"]
    if not meta["exact"]:  # taken mid-episode: the run goes on with a new one, which must not stack onto it
        manifest = {**manifest, "open": False}
    source = checkpoints.run_dir_of(checkpoint)
    store = SegmentStore(t.run_dir or source)
    try:
        store.load(manifest, into=t.buffer, source=source)
    except ReplaySegmentError as e:
        if str(e).startswith("replay manifest"):  # the manifest, not a file: name the checkpoint
            raise ReplaySegmentError(f"{Path(checkpoint) / checkpoints.META}: {e}") from None
        raise
    if t.run_dir is not None:
        _stores[t.buffer] = store
    return None


def retain(t: Trainer) -> None:
    """After a checkpoint: drop the replay of the oldest checkpoints kept beyond the rotation while
    what only they keep alive exceeds the disk budget, then remove the segments nobody refers to."""
    assert t.run_dir is not None and isinstance(t.buffer, FrameReplayBuffer)
    kept = _kept(t.run_dir)
    if kept is None:
        return  # a checkpoint's metadata could not be read: no file is known to be free
    # The rotation's window, as `checkpoints.save` prunes it; older periodic ones left are pinned.
    periodic = [name for name, _ in kept if not _suffix(name)][-t.config.run.checkpoint_keep :]
    latest = checkpoints.read_pointer(t.run_dir, "latest")
    base = [m for name, m in kept if m and (name in periodic or name == latest)]
    extra = [(name, m) for name, m in kept if m and name not in periodic and name != latest]
    budget = t.config.run.checkpoint_disk_gb * GB
    while extra and bytes_only_in(t.run_dir, [m for _, m in extra], base) > budget:
        name, _ = extra.pop(0)
        _drop_replay(checkpoints.checkpoints_dir(t.run_dir) / name, t.config.run.checkpoint_disk_gb)
    _store(t.buffer, t.run_dir).collect_garbage([*base, *(m for _, m in extra)])


def _suffix(name: str) -> str | None:
    """-demand, -stop, or None for a periodic checkpoint's name."""
    match = checkpoints.FULL_NAMED.fullmatch(name)
    return match[2] if match else None


def _kept(run_dir: Path) -> list[tuple[str, dict | None]] | None:
    """(name, replay manifest or None) of the run's full checkpoints, oldest first; None where one's
    metadata cannot be read."""
    found = []
    root = checkpoints.checkpoints_dir(run_dir)
    for path in sorted(root.iterdir(), key=lambda p: p.name):
        if not checkpoints.FULL_NAMED.fullmatch(path.name):
            continue
        try:
            meta = json.loads((path / checkpoints.META).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        found.append((path.name, meta.get("replay") if isinstance(meta, dict) else None))
    return found


def _drop_replay(checkpoint: Path, budget_gb: float) -> None:
    meta = json.loads((checkpoint / checkpoints.META).read_text(encoding="utf-8"))
    meta["replay"] = None
    meta["replay_dropped"] = (
        f"dropped to keep run.checkpoint_disk_gb = {budget_gb:g}: weights, optimizer and counters only"
    )
    write_atomic(checkpoint / checkpoints.META, json.dumps(meta, indent=1))
