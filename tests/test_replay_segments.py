"""Replay checkpoints cost what changed, restore exactly, and survive a kill at any moment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cockpit.engine import replay_segments
from cockpit.engine.files import write_json_atomic
from cockpit.engine.frame_buffer import FrameReplayBuffer, FrameSampler
from cockpit.engine.replay_segments import ReplaySegmentError, SegmentStore, bytes_only_in, files_of

SHAPE, STACK, CAPACITY, SLOTS = (6, 7), 4, 50, 8  # 7 segments, the last one of 2 slots


def env_steps(seed: int) -> Iterator[tuple]:
    """The arguments of `add` for an endless run of random frames and episodes of 1 to 12 steps."""
    rng = np.random.default_rng(seed)
    obs = rng.integers(0, 256, (STACK, *SHAPE), dtype=np.uint8)
    while True:
        for t in range(length := int(rng.integers(1, 13))):
            next_obs = np.concatenate([obs[1:], rng.integers(0, 256, (1, *SHAPE), dtype=np.uint8)])
            ended = t == length - 1
            terminated = ended and bool(rng.integers(2))
            yield obs, next_obs, int(rng.integers(6)), float(rng.normal()), terminated, ended and not terminated
            obs = next_obs
        obs = np.repeat(rng.integers(0, 256, (1, *SHAPE), dtype=np.uint8), STACK, axis=0)


def feed(buffer: FrameReplayBuffer, steps: Iterator[tuple], n: int) -> None:
    for _ in range(n):
        buffer.add(*next(steps))


def same(a: FrameReplayBuffer, b: FrameReplayBuffer) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)
    np.testing.assert_array_equal(a.transitions(), b.transitions())


def snapshot(buffer: FrameReplayBuffer) -> FrameReplayBuffer:
    copy = FrameReplayBuffer(buffer.capacity, buffer.frame_shape, buffer.frame_stack)
    copy.load_state_dict(buffer.state_dict())
    return copy


def on_disk(run_dir: Path) -> set[str]:
    return {p.name for p in (run_dir / "replay").iterdir()}


def test_a_save_writes_only_the_segments_changed_since_the_previous_one(tmp_path):
    buffer, steps = FrameReplayBuffer(CAPACITY, SHAPE, STACK), env_steps(1)
    store = SegmentStore(tmp_path, segment_slots=SLOTS)
    feed(buffer, steps, 20)  # frames 0 .. about 21: segments 0-2
    first = store.save(buffer)
    assert [s is not None for s in first["segments"]] == [i * SLOTS < buffer.written for i in range(7)]
    assert len(store.last_written) == -(-buffer.written // SLOTS)
    before = buffer.written
    feed(buffer, steps, 5)
    second = store.save(buffer)
    touched = {(j % CAPACITY) // SLOTS for j in range(before - 1, buffer.written)}
    assert store.last_written == [f"seg-{i:05d}.v2.npy" for i in sorted(touched)]
    assert [i for i in range(7) if first["segments"][i] != second["segments"][i]] == sorted(touched)
    assert store.save(buffer)["segments"] == second["segments"] and store.last_written == []
    feed(buffer, steps, 3 * CAPACITY)  # wraps the ring: every segment changes
    third = store.save(buffer)
    assert len(store.last_written) == 7 and all(s[0] == 3 for s in third["segments"])


def test_each_manifest_restores_the_buffer_exactly_and_sampling_goes_on_the_same(tmp_path):
    buffer, steps = FrameReplayBuffer(CAPACITY, SHAPE, STACK), env_steps(2)
    store = SegmentStore(tmp_path, segment_slots=SLOTS)
    saved = []
    for n in [10, 30, 45, 7, 120, 1, *np.random.default_rng(0).integers(1, 12, 40)]:  # some end on a segment's edge
        feed(buffer, steps, int(n))
        saved.append((store.save(buffer), snapshot(buffer)))
    for manifest, expected in saved:
        restored = SegmentStore(tmp_path).load(json.loads(json.dumps(manifest)))
        same(restored, expected)
        a, b = FrameSampler(expected, 5), FrameSampler(restored, 5)
        for x, y in zip(a.sample(64), b.sample(64), strict=True):
            np.testing.assert_array_equal(x, y)


def test_loading_into_a_used_buffer_and_saving_again_writes_only_what_changed(tmp_path):
    buffer, steps = FrameReplayBuffer(CAPACITY, SHAPE, STACK), env_steps(3)
    store = SegmentStore(tmp_path, segment_slots=SLOTS)
    feed(buffer, steps, 12)
    early, expected = store.save(buffer), snapshot(buffer)
    feed(buffer, steps, 100)
    store.save(buffer)
    resumed = SegmentStore(tmp_path, segment_slots=SLOTS)
    resumed.load(early, into=buffer)  # a resume from an earlier checkpoint, into the run's buffer
    same(buffer, expected)
    before = buffer.written
    feed(buffer, steps, 2)
    later = resumed.save(buffer)
    touched = sorted({(j % CAPACITY) // SLOTS for j in range(before - 1, buffer.written)})
    assert resumed.last_written == [f"seg-{i:05d}.v3.npy" for i in touched]  # v2 is taken by the abandoned save
    assert [i for i, s in enumerate(later["segments"]) if s != early["segments"][i]] == touched
    same(SegmentStore(tmp_path).load(later), buffer)


def test_a_crash_before_the_manifest_is_committed_leaves_the_previous_one_loadable(tmp_path, monkeypatch):
    buffer, steps = FrameReplayBuffer(CAPACITY, SHAPE, STACK), env_steps(4)
    store = SegmentStore(tmp_path, segment_slots=SLOTS)
    feed(buffer, steps, 30)
    write_json_atomic(tmp_path / "manifest.json", store.save(buffer))
    expected = snapshot(buffer)

    feed(buffer, steps, 9)
    store.save(buffer)  # the segments are written; the process dies before the manifest's rename
    feed(buffer, steps, 9)
    real_write = SegmentStore._write
    written: list[Path] = []

    def dies_after_one_file(self, path, records):
        if written:
            (path.parent / f".{path.name}.tmp-{os.getpid()}").write_bytes(b"half a segm")
            raise KeyboardInterrupt  # stands for the kill
        written.append(path)
        real_write(self, path, records)

    monkeypatch.setattr(SegmentStore, "_write", dies_after_one_file)
    with pytest.raises(KeyboardInterrupt):
        store.save(buffer)
    monkeypatch.undo()

    restarted = SegmentStore(tmp_path, segment_slots=SLOTS)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    again = restarted.load(manifest)
    same(again, expected)
    feed(again, steps, 3)
    restarted.save(again)  # clears the temporary and never reuses a version the crash left
    assert not [n for n in on_disk(tmp_path) if n.startswith(".")]
    assert all(n.endswith(".v4.npy") for n in restarted.last_written)


def test_garbage_collection_keeps_exactly_what_live_manifests_refer_to(tmp_path):
    buffer, steps = FrameReplayBuffer(CAPACITY, SHAPE, STACK), env_steps(5)
    store = SegmentStore(tmp_path, segment_slots=SLOTS)
    manifests = []
    for n in (25, 6, 6, 6):
        feed(buffer, steps, n)
        manifests.append((store.save(buffer), snapshot(buffer)))
    (first, first_buffer), (second, _), (third, _), (fourth, fourth_buffer) = manifests
    sizes = {n: (tmp_path / "replay" / n).stat().st_size for n in on_disk(tmp_path)}
    only_pinned = files_of(first) - files_of(fourth)
    assert only_pinned and bytes_only_in(tmp_path, [first], [fourth]) == sum(sizes[n] for n in only_pinned)

    freed = store.collect_garbage([first])  # the last save (fourth) stays live without being named
    assert on_disk(tmp_path) == files_of(first) | files_of(fourth)
    assert freed == sum(sizes.values()) - sum(sizes[n] for n in on_disk(tmp_path))
    same(SegmentStore(tmp_path).load(first), first_buffer)
    same(SegmentStore(tmp_path).load(fourth), fourth_buffer)
    gone = sorted(files_of(second) - on_disk(tmp_path))[0]
    with pytest.raises(ReplaySegmentError, match=rf"^{tmp_path / 'replay' / gone}: missing replay segment"):
        SegmentStore(tmp_path).load(second)


def test_a_damaged_segment_or_manifest_is_refused_in_one_line_naming_it(tmp_path):
    buffer = FrameReplayBuffer(CAPACITY, SHAPE, STACK)
    feed(buffer, env_steps(6), 40)
    manifest = SegmentStore(tmp_path, segment_slots=SLOTS).save(buffer)
    path = tmp_path / "replay" / "seg-00001.v1.npy"
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(ReplaySegmentError, match=rf"^{path}: unreadable replay segment") as caught:
        SegmentStore(tmp_path).load(manifest)
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ReplaySegmentError, match=rf"^{path}: damaged replay segment") as caught:
        SegmentStore(tmp_path).load(manifest)
    assert "\n" not in str(caught.value)
    for key, value, expected in (
        ("written", -3, "an integer >= 0"),
        ("segments", [None], "7 entries of null or"),
        ("format", 9, "1"),
    ):
        with pytest.raises(ReplaySegmentError, match=rf"^replay manifest: {key} = .*: expected {expected}"):
            SegmentStore(tmp_path).load({**manifest, key: value})
    with pytest.raises(ReplaySegmentError, match=r"^replay manifest: capacity 50.*expected the run's 60"):
        SegmentStore(tmp_path).load(manifest, into=FrameReplayBuffer(60, SHAPE, STACK))


CHILD = """
import sys
from pathlib import Path
from cockpit.engine.files import write_json_atomic
from cockpit.engine.frame_buffer import FrameReplayBuffer
from cockpit.engine.replay_segments import SegmentStore
from tests.test_replay_segments import CAPACITY, SHAPE, SLOTS, STACK, env_steps, feed

run_dir = Path(sys.argv[1])
buffer, steps, store = FrameReplayBuffer(CAPACITY, SHAPE, STACK), env_steps(7), SegmentStore(run_dir, SLOTS)
for k in range(10**6):
    feed(buffer, steps, 17)
    manifest = store.save(buffer)
    write_json_atomic(run_dir / "manifest.json", manifest)
    store.collect_garbage([manifest])
    print("saved", k, flush=True)
"""


def test_a_kill_at_any_moment_leaves_the_last_committed_manifest_loadable(tmp_path):
    root = Path(__file__).resolve().parent.parent
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("saved 20"):
                break
        child.kill()  # SIGKILL, wherever the loop is
    finally:
        child.wait()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    restored = SegmentStore(tmp_path).load(manifest)
    expected, steps = FrameReplayBuffer(CAPACITY, SHAPE, STACK), env_steps(7)
    while expected.written < manifest["written"]:
        feed(expected, steps, 17)
    same(restored, expected)


def test_the_default_segment_is_a_few_megabytes_of_atari_frames():
    buffer = FrameReplayBuffer(10_000, (84, 84), 4)
    slots = replay_segments.default_segment_slots(buffer)
    assert 500 <= slots <= 600 and buffer.record_dtype.itemsize == 84 * 84 + 10


def test_a_fork_links_the_segments_and_its_first_checkpoint_writes_only_what_changed(tmp_path):
    source, fork = tmp_path / "source", tmp_path / "fork"
    buffer, steps = FrameReplayBuffer(CAPACITY, SHAPE, STACK), env_steps(8)
    store = SegmentStore(source, segment_slots=SLOTS)
    feed(buffer, steps, 70)
    manifest, expected = store.save(buffer), snapshot(buffer)
    forked = SegmentStore(fork, segment_slots=SLOTS)
    again = forked.load(manifest, source=source)
    same(again, expected)
    assert on_disk(fork) == files_of(manifest)
    shutil.rmtree(source)  # the source run goes: the fork's links stay
    before = again.written
    feed(again, steps, 1)
    later = forked.save(again)
    assert len(forked.last_written) == len({(j % CAPACITY) // SLOTS for j in range(before - 1, again.written)})
    expected_later = snapshot(again)
    forked.collect_garbage([later])
    same(SegmentStore(fork).load(later), expected_later)
