"""A full disk ends the run `failed` with one line, keeps the last checkpoint intact, writes its
summary where the disk allows and leaves no temporary file; resuming on the still-full disk neither.
The disk is filled without root: a file-size limit (RLIMIT_FSIZE) in the child makes every write
past it fail as a full disk would (Python ignores SIGXFSZ, so the write raises)."""

from __future__ import annotations

import errno
import json
import resource
import subprocess
import sys
from pathlib import Path

from tiny import tiny_config, write_tiny_preset

from cockpit.engine import checkpoints
from cockpit.engine.files import write_failed
from cockpit.engine.runlog import RunLog
from cockpit.engine.trainer import Trainer

SMALL = {
    "env": {"max_episode_steps": 30},
    "dqn": {"hidden_size": 8, "buffer_size": 200, "batch_size": 8, "warmup_steps": 50},
    "run": {"total_steps": 30_000, "eval_freq": 1_000, "eval_episodes": 1, "log_interval": 100},
}


def cockpit_with_file_limit(limit: int, *args, cwd: Path) -> subprocess.CompletedProcess:
    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "cockpit", *map(str, args)],
        preexec_fn=limited,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
    )


def files(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def test_a_full_disk_fails_the_run_in_one_line_keeping_the_last_checkpoint(tmp_path):
    preset = write_tiny_preset(tmp_path / "small.toml", **SMALL)
    run_dir = tmp_path / "run"
    done = cockpit_with_file_limit(40_000, preset, "--no-ui", "--run-dir", run_dir, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    errors = [line for line in done.stdout.splitlines() if "✗ error" in line]
    # Which file meets the limit first (metrics.jsonl, or TensorBoard's from its own thread) varies.
    assert len(errors) == 1 and f"cannot write {run_dir}/" in errors[0] and "(File too large" in errors[0]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and "cannot write" in summary["error"]
    last = checkpoints.find(run_dir)
    meta = checkpoints.load_full_meta(last)
    assert checkpoints.load_full_tensors(last) and 0 < meta["step"] < summary["steps"]
    assert not [p for p in run_dir.rglob("*") if ".tmp" in p.name]

    before = files(run_dir)
    again = cockpit_with_file_limit(1_000, "--resume", run_dir, "--no-ui", "--total-steps", 40_000, cwd=tmp_path)
    assert again.returncode == 1 and "Traceback" not in again.stdout + again.stderr
    assert "cannot write" in again.stdout
    after = files(run_dir)
    assert after.keys() == before.keys(), "no temporary file, nothing half-written"
    assert after["checkpoints/latest"] == before["checkpoints/latest"]


def test_a_disk_that_fills_at_the_very_end_still_ends_the_run_in_one_line(tmp_path, monkeypatch):
    """The end event is the last write before the summary: the run ends failed, naming the file."""
    write_event = RunLog.event

    def full_at_the_end(self, record):
        if record["kind"] == "end":
            raise write_failed(self.path / "events.jsonl", OSError(errno.ENOSPC, "No space left on device"))
        write_event(self, record)

    monkeypatch.setattr(RunLog, "event", full_at_the_end)
    summary = Trainer(tiny_config(run={"total_steps": 200}), tmp_path / "run").run()
    assert summary["status"] == "failed"
    assert summary["error"].startswith(f"cannot write {tmp_path / 'run' / 'events.jsonl'} (No space left on device")
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["error"] == summary["error"]
