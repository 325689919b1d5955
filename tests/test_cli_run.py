"""A short headless run through the real CLI writes a complete run directory; the engine and the
headless front end never import Textual."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

from tiny import write_tiny_preset


def test_headless_run_writes_a_complete_run_dir(tmp_path):
    preset = write_tiny_preset(tmp_path / "tiny.toml")
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cockpit",
            str(preset),
            "--no-ui",
            "--seed",
            "3",
            "--total-steps",
            "400",
            "--set",
            "dqn.learning_rate=5e-4",
            "--run-dir",
            str(run_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "finished: 400 steps" in done.stdout and "eval" in done.stdout

    config = tomllib.loads((run_dir / "config.toml").read_text())
    assert config["run"]["seed"] == 3 and config["run"]["total_steps"] == 400
    assert config["dqn"]["learning_rate"] == 5e-4

    meta = json.loads((run_dir / "metadata.json").read_text())
    for key in ("packages", "git_commit", "git_dirty", "command", "host", "threads", "started_at", "compute_path"):
        assert key in meta, key
    assert meta["threads"] == 1 and meta["packages"]["torch"].startswith("2.")

    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    kinds = {r["kind"] for r in records}
    assert kinds == {"episode", "train", "eval"}
    train = [r for r in records if r["kind"] == "train" and "loss" in r]
    assert train and set(train[-1]["loss"]) == {"mean", "min", "max"} and train[-1]["q_bound"] > 0

    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert events[0]["kind"] == "start" and events[-1]["kind"] == "end"
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["steps"] == 400
    for key in (
        "wall_time_s",
        "train_steps_per_s",
        "final_eval_return",
        "best_eval_return",
        "first_step_reaching_target",
        "peak_rss_mb",
    ):
        assert key in summary, key
    assert summary["train_steps_per_s"] > 0 and summary["peak_rss_mb"] > 0


def test_engine_and_headless_run_never_import_textual(tmp_path):
    preset = write_tiny_preset(tmp_path / "tiny.toml")
    code = (
        "import sys\n"
        "import cockpit.engine.trainer, cockpit.engine.evaluation, cockpit.engine.runlog\n"
        "from cockpit.cli import main\n"
        f"code = main([{str(preset)!r}, '--no-ui', '--total-steps', '200', '--run-dir', {str(tmp_path / 'r')!r}])\n"
        "assert code == 0, code\n"
        "leaked = sorted(m for m in sys.modules if m.startswith(('textual', 'plotext', 'pygame', 'cockpit.ui')))\n"
        "print('LEAKED', leaked)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "LEAKED []" in done.stdout


def test_the_progress_line_gives_no_eta_while_the_run_waits():
    from cockpit.engine.contract import RunState, RunStatus
    from cockpit.text import progress_line

    status = RunStatus(step=1000, total_steps=3000, steps_per_s=500.0)
    assert "ETA 00:04" in progress_line(status.replace(state=RunState.RUNNING), 1.0, None)
    for state in (RunState.LOADING, RunState.PAUSED):
        line = progress_line(status.replace(state=state), 1.0, None)
        assert "ETA --:--" in line and "steps/s" not in line  # no 0 steps/s while the network loads
