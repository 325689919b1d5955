"""Replay kept as segment files in the run directory, so that a checkpoint costs what changed.

    RUN_DIR/replay/
      seg-00012.v7.npy      slots 12*S .. 13*S-1 of the ring as records, as written by save 7

A checkpoint's replay is a manifest, a small dict kept in the checkpoint's metadata: the buffer's
counters and, per segment, the version that holds it (null for slots never written) and its CRC.
A save writes a new version of only the segments whose slots changed since the state the store
last saved or loaded: a ring fills in order, so that is the slots from the previous newest frame
(whose action is recorded when the next frame comes) to the newest. Each file goes to a temporary
name, is fsynced, then renamed to a name no manifest uses yet; no file a manifest refers to is ever
rewritten, so a kill at any moment leaves every manifest already committed loadable. Versions that
no kept manifest refers to are removed by `collect_garbage`.
"""

from __future__ import annotations

import os
import re
import shutil
import zlib
from functools import partial
from pathlib import Path

import numpy as np

from cockpit.engine.checkpoint_checks import MANIFEST_FORMAT, ReplaySegmentError, check_manifest
from cockpit.engine.files import fsync_dir, write_atomic_with, write_failed
from cockpit.engine.frame_buffer import FrameReplayBuffer

FORMAT = MANIFEST_FORMAT
SEGMENT_BYTES = 4 * 2**20
"""About how much of the ring one file holds: small enough that a checkpoint rewrites little beyond
what changed (the two partly changed segments at its ends), large enough that a million-slot ring
is under two thousand files, not a million."""
SEGMENT_FILE = re.compile(r"seg-(\d{5,})\.v(\d+)\.npy")
TEMPORARY = re.compile(r"\.seg-.*\.tmp-\d+")


def replay_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "replay"


def segment_name(index: int, version: int) -> str:
    return f"seg-{index:05d}.v{version}.npy"


def default_segment_slots(buffer: FrameReplayBuffer) -> int:
    return max(1, min(buffer.capacity, SEGMENT_BYTES // buffer.record_dtype.itemsize))


def files_of(manifest: dict) -> set[str]:
    """The segment files a manifest refers to."""
    return {segment_name(i, s[0]) for i, s in enumerate(manifest["segments"]) if s is not None}


class SegmentStore:
    """Saves and loads one run directory's replay; it remembers the state it last saved or loaded,
    so that the next save writes only the segments changed since then."""

    def __init__(self, run_dir: Path, segment_slots: int | None = None):
        self.dir = replay_dir(run_dir)
        self.segment_slots = segment_slots
        self._base: tuple[FrameReplayBuffer, int, dict] | None = None
        self._next_version: int | None = None
        self.last_written: list[str] = []
        """The files the last save wrote (what it cost)."""

    # -------------------------------------------------------------------- save
    def save(self, buffer: FrameReplayBuffer) -> dict:
        """Write the segments changed since the last save or load; the manifest of the buffer as it is."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if self._next_version is None:
            for stale in self.dir.iterdir():  # left by a killed process (the run directory is locked: none is live)
                if TEMPORARY.fullmatch(stale.name):
                    stale.unlink(missing_ok=True)
            self._next_version = 1 + max((int(m[2]) for m in self._existing()), default=0)
        slots = self.segment_slots or default_segment_slots(buffer)
        count = -(-buffer.capacity // slots)
        base = self._base_manifest(buffer, slots)
        if base is None:
            segments: list = [None] * count
            changed = list(range(-(-buffer.held() // slots)))
        else:
            segments = list(base["segments"])
            changed = _changed(base["written"], buffer.written, buffer.capacity, slots)
        version = self._next_version
        self.last_written = []
        for i in changed:
            start, stop = i * slots, min((i + 1) * slots, buffer.capacity)
            records = buffer.records(start, stop)
            name = segment_name(i, version)
            self._write(self.dir / name, records)
            segments[i] = [version, _crc(records)]
            self.last_written.append(name)
        if self.last_written:
            fsync_dir(self.dir)
            self._next_version = version + 1
        manifest = {
            "format": FORMAT,
            "capacity": buffer.capacity,
            "frame_shape": list(buffer.frame_shape),
            "frame_stack": buffer.frame_stack,
            "segment_slots": slots,
            **buffer.counters(),
            "segments": segments,
        }
        self._base = (buffer, buffer.generation, manifest)
        return manifest

    def _base_manifest(self, buffer: FrameReplayBuffer, slots: int) -> dict | None:
        """The manifest the buffer has only grown from since, if the store knows it."""
        if self._base is None:
            return None
        known, generation, manifest = self._base
        same = known is buffer and generation == buffer.generation and manifest["segment_slots"] == slots
        return manifest if same and manifest["written"] <= buffer.written else None

    def _write(self, path: Path, records: np.ndarray) -> None:
        write = partial(np.lib.format.write_array, array=records, allow_pickle=False)
        write_atomic_with(path, write, sync_dir=False)  # the directory once, after the last segment

    def _existing(self) -> list[re.Match]:
        if not self.dir.is_dir():
            return []
        return [m for p in self.dir.iterdir() if (m := SEGMENT_FILE.fullmatch(p.name))]

    # -------------------------------------------------------------------- load
    def load(
        self, manifest: dict, into: FrameReplayBuffer | None = None, source: Path | None = None
    ) -> FrameReplayBuffer:
        """The buffer a manifest describes (into `into` when given, which must have its shape).

        `source`: the run directory the manifest belongs to, where it is not this one (a fork). Its
        segment files are linked into this run's (copied across file systems), so that the fork's
        first checkpoint writes only what changed, and either run may remove its own files."""
        check_manifest(manifest)
        folder = self.dir if source is None else replay_dir(source)
        shape, capacity, stack = tuple(manifest["frame_shape"]), manifest["capacity"], manifest["frame_stack"]
        if into is None:
            into = FrameReplayBuffer(capacity, shape, stack)
        elif (into.capacity, into.frame_shape, into.frame_stack) != (capacity, shape, stack):
            raise ReplaySegmentError(
                f"replay manifest: capacity {capacity}, frames {shape} stacked {stack}: expected the run's "
                f"{into.capacity}, {into.frame_shape} stacked {into.frame_stack}"
            )
        fresh = into.written == 0 and into.generation == 0  # its unwritten slots are still zeros
        slots = manifest["segment_slots"]
        for i, entry in enumerate(manifest["segments"]):
            start, stop = i * slots, min((i + 1) * slots, capacity)
            if entry is None:
                if not fresh:
                    into.put_records(start, np.zeros(stop - start, into.record_dtype))
                continue
            into.put_records(start, self._read(folder / segment_name(i, entry[0]), entry[1], stop - start, into))
        try:
            into.restore_counters({"written": manifest["written"], "open": manifest["open"]})
        except ValueError as e:
            raise ReplaySegmentError(f"replay manifest: {e}") from None
        if folder.resolve() != self.dir.resolve():
            self.dir.mkdir(parents=True, exist_ok=True)
            for name in sorted(files_of(manifest)):
                _link(folder / name, self.dir / name)
            fsync_dir(self.dir)
            self._next_version = None  # the next save numbers its files after the ones linked in
        self._base = (into, into.generation, manifest)
        return into

    def _read(self, path: Path, crc: int, length: int, buffer: FrameReplayBuffer) -> np.ndarray:
        try:
            records = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise ReplaySegmentError(f"{path}: missing replay segment (a checkpoint refers to it)") from None
        except (OSError, ValueError, EOFError) as e:
            raise ReplaySegmentError(f"{path}: unreadable replay segment ({e})") from None
        if records.dtype != buffer.record_dtype or records.shape != (length,):
            raise ReplaySegmentError(
                f"{path}: {records.shape} records of {records.dtype}: expected ({length},) of the run's frame records"
            )
        if _crc(records) != crc:
            raise ReplaySegmentError(f"{path}: damaged replay segment (its CRC differs from the checkpoint's)")
        return records

    # --------------------------------------------------------------- retention
    def collect_garbage(self, live_manifests: list[dict]) -> int:
        """Remove the segment files that neither `live_manifests` nor the last save or load refer to;
        the bytes freed."""
        keep = set().union(*(files_of(m) for m in live_manifests))
        if self._base is not None:
            keep |= files_of(self._base[2])
        freed = 0
        for m in self._existing():
            if m[0] not in keep:
                path = self.dir / m[0]
                freed += path.stat().st_size
                path.unlink()
        return freed


def _link(source: Path, target: Path) -> None:
    """`source` under a second name, or a copy of it where a link cannot cross file systems."""
    if target.exists():
        if os.path.samefile(source, target):
            return
        raise ReplaySegmentError(f"{target}: already there, and not {source} (expected a new run directory)")
    try:
        os.link(source, target)
        return
    except OSError:
        pass
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        shutil.copyfile(source, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise write_failed(target, e) from None


def _crc(records: np.ndarray) -> int:
    return zlib.crc32(records.view(np.uint8).data)


def _changed(before: int, after: int, capacity: int, slots: int) -> list[int]:
    """Segments holding the slots of frames before - 1 .. after - 1: the previous newest frame (its
    action and flags come with the next frame) and every frame written since."""
    if after == before:
        return []
    first = max(before - 1, 0)
    if after - first >= capacity:
        return list(range(-(-capacity // slots)))
    start, stop = first % capacity, (after - 1) % capacity
    if start <= stop:
        return list(range(start // slots, stop // slots + 1))
    return sorted({*range(start // slots, -(-capacity // slots)), *range(0, stop // slots + 1)})


def bytes_only_in(run_dir: Path, manifests: list[dict], others: list[dict]) -> int:
    """Disk bytes of the segment files `manifests` refer to and `others` do not: what dropping the
    replay of `manifests` would free, for a disk budget over pinned and on-demand checkpoints."""
    only = set().union(*(files_of(m) for m in manifests)) - set().union(*(files_of(m) for m in others))
    folder = replay_dir(run_dir)
    return sum((folder / name).stat().st_size for name in only if (folder / name).exists())
