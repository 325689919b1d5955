"""What the overhead benches (ui_overhead.py, viewers_overhead.py) share: the cockpit they run, the
flags of the runs they compare, the headless command, and reading a finished run back."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

COCKPIT = Path(sys.executable).with_name("cockpit")


class RunFailed(Exception):
    """A run (or a viewer) that failed or timed out: the bench says which, with its log, and exits 2."""


def add_run_flags(p: argparse.ArgumentParser, *, seed_help: str, rounds: int, rounds_help: str) -> None:
    """The preset, the seed and length every compared run shares, the rounds, a timeout and --out."""
    p.add_argument(
        "preset",
        type=Path,
        nargs="?",
        default=Path("presets/cartpole.toml"),
        help="a preset (default presets/cartpole.toml)",
    )
    p.add_argument("--seed", type=int, default=1, help=f"run seed, {seed_help} (default 1)")
    p.add_argument("--total-steps", type=int, default=20000, help="steps per run (default 20000)")
    p.add_argument("--rounds", type=int, default=rounds, help=f"{rounds_help} (default {rounds})")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds one run may take (default 900)")
    p.add_argument("--out", type=Path, help="directory for run dirs and logs (default: a new temp dir)")


def check_run_flags(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.rounds < 1 or args.total_steps < 1:
        p.error("--rounds and --total-steps must be >= 1")


def cockpit_cmd(args: argparse.Namespace, run_dir: Path, headless: bool = True) -> list[str]:
    cmd = [str(COCKPIT), str(args.preset)] + (["--no-ui"] if headless else [])
    return cmd + ["--seed", str(args.seed), "--total-steps", str(args.total_steps), "--run-dir", str(run_dir)]


def finished_summary(run_dir: Path) -> dict:
    """summary.json of a run that finished and measured its training speed; RunFailed otherwise."""
    summary = json.loads((run_dir / "summary.json").read_text())
    if summary.get("status") != "finished" or not summary.get("train_steps_per_s"):
        raise RunFailed(f"{run_dir}: status {summary.get('status')}, error {summary.get('error')}")
    return summary


def metric_records(run_dir: Path) -> list[dict]:
    """metrics.jsonl's records, as they are (wall-clock figures are in timing.jsonl)."""
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
