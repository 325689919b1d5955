"""Checkpoints of image runs: the replay as segment files, exact resume and fork after the buffer
wrapped, a kill mid-checkpoint, retention and the disk budget, bad segments, eval without a buffer."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import tiny_config

from cockpit.engine import checkpoints, replay_segments
from cockpit.engine.config import Config
from cockpit.engine.control import Command, CommandKind
from cockpit.engine.frame_buffer import FrameReplayBuffer
from cockpit.engine.replay_segments import SegmentStore, files_of
from cockpit.engine.trainer import Trainer

TESTS = Path(__file__).parent
CATCH = "catch_env:cockpit-tests/Catch-v0"
RECORD_BYTES = 110
"""One slot of a 10x10 catch frame (`frame_buffer.record_dtype`)."""
SEGMENT_SLOTS = 16
"""So that a 120-frame buffer is 8 segment files, not one."""


@pytest.fixture(autouse=True, scope="module")
def small_segments():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(replay_segments, "SEGMENT_BYTES", SEGMENT_SLOTS * RECORD_BYTES)
        yield


def image_config(**run) -> Config:
    """Catch with two stacked frames and a 120-frame buffer, which a 400-step run fills three times."""
    return tiny_config(
        env={"id": CATCH, "frame_stack": 2},
        dqn={"buffer_size": 120, "warmup_steps": 50},
        run={"total_steps": 400, "eval_freq": 50, "checkpoint_keep": 2, **run},
    )


def at_step(trainer: Trainer, commands: dict[int, Command]) -> None:
    """Submit each command through the control surface when the run is at its step."""

    def hook(trainer, action, result):
        if trainer.step in commands:
            trainer.control.submit(commands[trainer.step])
        return result

    trainer.step_hook = hook


def cockpit(*args, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return subprocess.run(
        [sys.executable, "-m", "cockpit", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


def meta_of(checkpoint: Path) -> dict:
    return json.loads((checkpoint / checkpoints.META).read_text())


def replay_of(checkpoint: Path) -> FrameReplayBuffer:
    return SegmentStore(checkpoints.run_dir_of(checkpoint)).load(meta_of(checkpoint)["replay"])


def full_checkpoints(run_dir: Path) -> list[Path]:
    return sorted(p for p in (run_dir / "checkpoints").iterdir() if checkpoints.FULL_NAMED.fullmatch(p.name))


def assert_equal(a, b, where: str = "") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_equal(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


def assert_same_state(a: Path, b: Path) -> None:
    """Two checkpoints hold the same weights, optimizer, RNG arrays, replay and sampler."""
    ta, tb = (torch.load(c / checkpoints.STATE, weights_only=True) for c in (a, b))
    assert "buffer" not in ta
    assert_equal(ta, tb)
    ra, rb = replay_of(a), replay_of(b)
    assert ra.written > ra.capacity  # the buffer wrapped
    for key, value in ra.state_dict().items():
        np.testing.assert_array_equal(value, rb.state_dict()[key], err_msg=key)
    ma, mb = meta_of(a), meta_of(b)
    for key in ("step", "episode", "updates", "replay_sampler", "rng", "numpy_global", "python_random"):
        assert ma.get(key) == mb.get(key), key


def segments_on_disk(run_dir: Path) -> set[str]:
    return {p.name for p in (run_dir / "replay").iterdir()}


def referenced(run_dir: Path) -> set[str]:
    manifests = [meta_of(c).get("replay") for c in full_checkpoints(run_dir)]
    return set().union(*(files_of(m) for m in manifests if m))


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """One uninterrupted 400-step run with an on-demand checkpoint, shared by the tests that read it."""
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    trainer = Trainer(image_config(), run_dir)
    at_step(trainer, {130: Command(CommandKind.CHECKPOINT, source="test")})
    assert trainer.run()["status"] == "finished", trainer.error
    return run_dir


def test_checkpoints_hold_a_manifest_and_retention_bounds_the_segment_files(straight):
    names = [c.name for c in full_checkpoints(straight)]
    demand = [n for n in names if n.endswith("-demand")]
    assert len(demand) == 1 and names[-1] == "step-000000400-stop" and len(names) == 4  # 2 periodic kept
    for checkpoint in full_checkpoints(straight):
        meta = meta_of(checkpoint)
        assert meta["format"] == checkpoints.REPLAY_FORMAT and "buffer_pos" not in meta
        assert meta["replay"]["segment_slots"] == SEGMENT_SLOTS and len(meta["replay"]["segments"]) == 8
    # Eight periodic checkpoints were taken; only the segment versions of the four kept remain.
    assert segments_on_disk(straight) == referenced(straight)
    assert len(segments_on_disk(straight)) <= 4 * 8
    best = torch.load(straight / "checkpoints" / checkpoints.read_pointer(straight, "best") / "state.pt")
    assert set(best) <= {"q", "obs_rms"}


def test_resume_after_the_buffer_wrapped_is_exact(straight, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(straight, run_dir)
    middle = next(c for c in full_checkpoints(run_dir) if not c.name.endswith(("-demand", "-stop")))
    assert meta_of(middle)["replay"]["written"] > 120
    done = cockpit("--resume", middle, "--no-ui", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"resuming from {middle}" in done.stdout
    assert_same_state(checkpoints.find(run_dir), checkpoints.find(straight))
    assert (run_dir / "metrics.jsonl").read_text() == (straight / "metrics.jsonl").read_text()
    assert segments_on_disk(run_dir) == referenced(run_dir)


def test_a_fork_links_its_parents_segments_and_continues_exactly(straight, tmp_path):
    demand = next(c for c in full_checkpoints(straight) if c.name.endswith("-demand"))
    fork_dir = tmp_path / "fork"
    fork = Trainer(image_config(), fork_dir)
    fork.resume_from(demand, fork=True)
    for name in files_of(meta_of(demand)["replay"]):
        assert os.path.samefile(fork_dir / "replay" / name, straight / "replay" / name)
    assert fork.run()["status"] == "finished", fork.error
    assert_same_state(checkpoints.find(fork_dir), checkpoints.find(straight))
    start = meta_of(demand)["step"]
    after = [line for line in (straight / "metrics.jsonl").read_text().splitlines() if json.loads(line)["step"] > start]
    assert (fork_dir / "metrics.jsonl").read_text().splitlines()[-len(after) :] == after
    assert json.loads((fork_dir / "metadata.json").read_text())["parent"]["exact"] is True


KILL_BETWEEN_SEGMENTS_AND_COMMIT = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_image_checkpoints import image_config
from cockpit.engine import checkpoints, replay_segments
from cockpit.engine.trainer import Trainer

replay_segments.SEGMENT_BYTES = {segment_bytes}
real_save = checkpoints.save
def dying_save(run_dir, tensors, meta, **kwargs):
    if meta["kind"] == "periodic" and meta["step"] > 200:  # its segments are written, its metadata not yet
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(run_dir, tensors, meta, **kwargs)
checkpoints.save = dying_save
Trainer(image_config(), Path({run_dir!r})).run()
"""


def test_a_kill_between_the_segment_writes_and_the_commit_leaves_the_previous_checkpoint_resumable(straight, tmp_path):
    run_dir = tmp_path / "run"
    code = KILL_BETWEEN_SEGMENTS_AND_COMMIT.format(
        tests=str(TESTS), segment_bytes=SEGMENT_SLOTS * RECORD_BYTES, run_dir=str(run_dir)
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    orphans = segments_on_disk(run_dir) - referenced(run_dir)
    assert orphans, "the kill did not land after the segment writes"
    latest = checkpoints.find(run_dir)
    assert meta_of(latest)["step"] <= 200
    resumed = Trainer(image_config(), run_dir)
    resumed.resume_from(latest)
    assert resumed.run()["status"] == "finished", resumed.error
    assert_same_state(checkpoints.find(run_dir), checkpoints.find(straight))
    assert segments_on_disk(run_dir) == referenced(run_dir)  # the orphans went with the next checkpoint


def test_a_resume_from_a_stop_mid_episode_starts_a_new_episode_in_the_buffer(tmp_path):
    run_dir = tmp_path / "run"
    trainer = Trainer(image_config(), run_dir)
    at_step(trainer, {250: Command(CommandKind.STOP, value="now", source="test")})  # catch ends every 9 steps
    assert trainer.run()["status"] == "stopped", trainer.error
    stop = checkpoints.find(run_dir)
    assert meta_of(stop)["exact"] is False and meta_of(stop)["replay"]["open"] is True
    last = meta_of(stop)["replay"]["written"] - 1  # the interrupted episode's newest frame
    resumed = Trainer(image_config(), run_dir)
    resumed.resume_from(stop)
    assert resumed.run()["status"] == "finished", resumed.error
    buffer = replay_of(checkpoints.find(run_dir))
    assert buffer.flags[last % 120] == 0  # no transition leaves it: the interrupted episode ends there
    assert buffer.depth[(last + 1) % 120] == 0  # the next frame is a new episode's first


def test_the_disk_budget_drops_the_oldest_kept_replays_and_a_rollback_from_one_says_it_is_not_exact(tmp_path):
    run_dir = tmp_path / "run"
    config = image_config(checkpoint_disk_gb=0)
    trainer = Trainer(config, run_dir, changes=[{"step": 250, "key": "learning_rate", "value": 2e-4}])
    at_step(trainer, {130: Command(CommandKind.CHECKPOINT, source="test")})
    assert trainer.run()["status"] == "finished", trainer.error
    names = [c.name for c in full_checkpoints(run_dir)]
    pinned = trainer.progress.applied_changes[0]["checkpoint"]
    kept_beyond_rotation = [n for n in names if n.endswith("-demand")] + [Path(pinned).name]
    for checkpoint in full_checkpoints(run_dir):
        meta = meta_of(checkpoint)
        if checkpoint.name in kept_beyond_rotation:
            assert meta["replay"] is None and "run.checkpoint_disk_gb = 0" in meta["replay_dropped"]
            assert checkpoints.load_full_meta(checkpoint)["step"] == meta["step"]  # still a valid checkpoint
        else:
            assert meta["replay"] is not None, checkpoint.name
    assert segments_on_disk(run_dir) == referenced(run_dir)

    done = cockpit(
        "--fork", run_dir, "--before-change", "1", "--no-ui", "--run-dir", tmp_path / "rollback", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stdout.splitlines() if "not exact" in line]
    assert len(warnings) == 1 and "kept no replay" in warnings[0], done.stdout
    parent = json.loads((tmp_path / "rollback" / "metadata.json").read_text())["parent"]
    assert parent["exact"] is False and parent["replay_dropped"] is True


def test_a_rollback_from_a_pinned_checkpoint_within_the_budget_is_exact(straight, tmp_path):
    run_dir = tmp_path / "run"
    trainer = Trainer(image_config(), run_dir, changes=[{"step": 250, "key": "learning_rate", "value": 2e-4}])
    assert trainer.run()["status"] == "finished", trainer.error
    pinned = run_dir / "checkpoints" / Path(trainer.progress.applied_changes[0]["checkpoint"]).name
    assert meta_of(pinned)["replay"] is not None and pinned.exists()
    done = cockpit(
        "--fork", run_dir, "--before-change", "1", "--no-ui", "--run-dir", tmp_path / "rollback", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "not exact" not in done.stdout
    assert_same_state(checkpoints.find(tmp_path / "rollback"), checkpoints.find(straight))


def test_damaged_or_missing_segments_are_refused_in_one_line_naming_the_file(straight, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(straight, run_dir)
    latest = checkpoints.find(run_dir)
    first, second = sorted(files_of(meta_of(latest)["replay"]))[:2]
    data = bytearray((run_dir / "replay" / first).read_bytes())
    data[-1] ^= 0xFF
    (run_dir / "replay" / first).write_bytes(bytes(data))
    (run_dir / "replay" / second).unlink()
    for bad, expected in ((second, "missing replay segment"), (first, "damaged replay segment")):
        done = cockpit("--resume", run_dir, "--total-steps", 500, "--no-ui", cwd=tmp_path)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
        assert f"{run_dir / 'replay' / bad}: {expected}" in lines[0]
        shutil.copy(straight / "replay" / second, run_dir / "replay" / second)  # the next try finds the damage


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"capacity": 128}, "replay capacity = 128: expected dqn.buffer_size (120)"),
        ({"written": 10**6}, "replay written = 1000000: expected at most 2 x step (800)"),
        ({"segments": [[1, 0]]}, "replay: segments = [[1, 0]]: expected 8 entries of null or [version, crc32]"),
        ({"open": "yes"}, "replay: open = 'yes': expected true or false"),
        (None, "replay_dropped = None: expected why the replay was dropped"),
    ],
)
def test_a_bad_replay_manifest_is_refused_in_one_line_naming_the_metadata(straight, tmp_path, change, expected):
    run_dir = tmp_path / "run"
    shutil.copytree(straight, run_dir)
    latest = checkpoints.find(run_dir)
    meta = meta_of(latest)
    meta["replay"] = None if change is None else {**meta["replay"], **change}
    (latest / checkpoints.META).write_text(json.dumps(meta))
    with pytest.raises(checkpoints.CheckpointError) as refused:
        checkpoints.load_full_meta(latest)
    assert str(refused.value) == f"{latest / checkpoints.META}: {expected}"


def test_eval_needs_no_buffer(straight, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(straight, run_dir)
    shutil.rmtree(run_dir / "replay")
    for path in (run_dir, checkpoints.find(run_dir)):  # the best policy, and a full checkpoint's
        done = cockpit("eval", path, "--episodes", 2, "--json", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert len(json.loads(done.stdout)["returns"]) == 2


def pong_config(**run) -> Config:
    """Pong cut into 100-step episodes (truncated), so that checkpoints come every 100 steps."""
    return tiny_config(
        env={
            "id": "ALE/Pong-v5",
            "max_episode_steps": 100,
            "frame_stack": 4,
            "noop_max": 30,
            "repeat_action_probability": 0.25,
            "fire_reset": True,
        },
        dqn={"network": "nature_cnn", "buffer_size": 250, "warmup_steps": 100, "train_freq": 4, "batch_size": 8},
        run={"total_steps": 300, "eval_freq": 100, "eval_episodes": 1, **run},
    )


def test_a_short_pong_run_resumes_exactly(tmp_path):
    """ALE has random state of its own (sticky actions here, no-op starts): a checkpoint is taken at an
    episode boundary and the next reset is replayed with its seed, which reseeds the emulator."""
    pytest.importorskip("ale_py")
    straight_dir, resumed_dir = tmp_path / "straight", tmp_path / "resumed"
    assert Trainer(pong_config(), straight_dir).run()["status"] == "finished"
    shutil.copytree(straight_dir, resumed_dir)
    middle = resumed_dir / "checkpoints" / "step-000000200"
    resumed = Trainer(pong_config(), resumed_dir)
    resumed.resume_from(middle)
    assert resumed.run()["status"] == "finished", resumed.error
    assert_same_state(checkpoints.find(resumed_dir), checkpoints.find(straight_dir))
    assert (resumed_dir / "metrics.jsonl").read_text() == (straight_dir / "metrics.jsonl").read_text()
