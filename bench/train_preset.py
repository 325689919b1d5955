"""Multi-seed benchmark of a preset: does DQN learn it, how fast, and at what cost?

Trains PRESET headless over N seeds (S..S+N-1), K runs at a time, each one a separate
`cockpit PRESET --no-ui --seed X --run-dir OUT/sX` process with its stdout in OUT/sX.log. Then it
reads each run's summary.json and the scheduled greedy evaluations in metrics.jsonl and prints,
per seed: the first step whose evaluation mean reached each threshold, the final and best
evaluation, training steps/s and peak RSS; then how many seeds reached each threshold and how
many still hold the top one at their final evaluation.

Thresholds default to the preset's target return (the env spec's reward_threshold when the
preset sets none), plus 195 and 475 for CartPole. Run directories are kept under OUT.

    .venv/bin/python bench/train_preset.py presets/cartpole.toml --seeds 5
    .venv/bin/python bench/train_preset.py presets/acrobot.toml --seeds 3 --thresholds -150,-100
    .venv/bin/python bench/train_preset.py presets/pong.toml --seeds 1 --thresholds 0,18 --curve

With --curve, each seed's evaluations are printed against env steps (and emulator frames for an
Atari preset, as CleanRL's table counts them: Pong 20.25 ± 0.41, Breakout 366.9 ± 39.9 at 10M
steps); Atari runs at full length take days on CPU and hours on a GPU (`--set run.device=cuda`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

COCKPIT = Path(sys.executable).with_name("cockpit")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("preset", type=Path)
    p.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5)")
    p.add_argument("--first-seed", type=int, default=1, help="first seed (default 1)")
    p.add_argument("--workers", type=int, default=2, help="runs at a time (default 2)")
    p.add_argument("--total-steps", type=int, help="override run.total_steps")
    p.add_argument("--thresholds", help="comma-separated returns, e.g. 195,475 (default: the target)")
    p.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE", help="passed to cockpit")
    p.add_argument("--out", type=Path, help="directory for run dirs and logs (default: a new temp dir)")
    p.add_argument(
        "--curve", action="store_true", help="also print each seed's evaluations against env steps and frames"
    )
    argv = sys.argv[1:]
    for i, arg in enumerate(argv[:-1]):  # let `--thresholds -150,-100` through: argparse reads "-1..." as an option
        if arg == "--thresholds":
            argv[i : i + 2] = [f"--thresholds={argv[i + 1]}"]
            break
    return p.parse_args(argv)


def train(args: argparse.Namespace, out: Path, seed: int) -> tuple[int, int, float]:
    cmd = [str(COCKPIT), str(args.preset), "--no-ui", "--seed", str(seed), "--run-dir", str(out / f"s{seed}")]
    if args.total_steps:
        cmd += ["--total-steps", str(args.total_steps)]
    for override in args.set:
        cmd += ["--set", override]
    started = time.monotonic()
    with open(out / f"s{seed}.log", "w") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
    return seed, rc, time.monotonic() - started


def read_run(run_dir: Path) -> tuple[dict | None, list[dict]]:
    summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").exists() else None
    evals = []
    if (run_dir / "metrics.jsonl").exists():
        for line in (run_dir / "metrics.jsonl").read_text().splitlines():
            record = json.loads(line)
            if record.get("kind") == "eval" and record.get("scheduled"):
                evals.append(record)
    return summary, evals


def default_thresholds(preset: Path, summaries: list[dict | None]) -> list[float]:
    targets = {s["target_return"] for s in summaries if s and s.get("target_return") is not None}
    env_id = tomllib.loads(preset.read_text()).get("env", {}).get("id", "CartPole-v1")
    extra = {195.0, 475.0} if "CartPole" in env_id else set()
    return sorted(targets | extra)


def frames_per_step(preset: Path) -> int:
    """Emulator frames per agent step: an Atari preset skips `env.frame_skip` frames (4 by default), as the
    published Atari tables count frames."""
    env = tomllib.loads(preset.read_text()).get("env", {})
    return int(env.get("frame_skip", 4)) if str(env.get("id", "")).startswith("ALE/") else 1


def print_curves(runs: dict, per_step: int) -> None:
    for seed, (_, evals) in runs.items():
        print(f"\nseed {seed}: greedy evaluation against steps" + (" and frames" if per_step > 1 else ""))
        for e in evals:
            frames = f"  {e['step'] * per_step:>12,} frames" if per_step > 1 else ""
            print(f"  {e['step']:>10,} steps{frames}  {e['mean']:10.2f} ± {e['std']:.2f}")


def fmt(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def main() -> int:
    args = parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix=f"bench-{args.preset.stem}-"))
    out.mkdir(parents=True, exist_ok=True)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    print(
        f"training {args.preset} over seeds {seeds.start}..{seeds.stop - 1}, {args.workers} at a time → {out}",
        flush=True,
    )
    started = time.monotonic()
    with ThreadPoolExecutor(args.workers) as pool:
        for seed, rc, wall in pool.map(lambda s: train(args, out, s), seeds):
            print(f"  seed {seed}: exit {rc} after {wall:.0f} s", flush=True)
    bench_wall = time.monotonic() - started

    runs = {seed: read_run(out / f"s{seed}") for seed in seeds}
    if args.curve:
        print_curves(runs, frames_per_step(args.preset))
    if args.thresholds:
        thresholds = sorted(float(t) for t in args.thresholds.split(","))
    else:
        thresholds = default_thresholds(args.preset, [summary for summary, _ in runs.values()])
    if not thresholds:
        print("no threshold: the preset has no target; pass --thresholds", file=sys.stderr)
        return 2
    top = thresholds[-1]

    headers = (
        ["seed", "status"] + [f"first≥{t:g}" for t in thresholds] + ["final eval", "best eval", "steps/s", "RSS MB"]
    )
    rows, reached, holding = [], {t: 0 for t in thresholds}, 0
    for seed, (summary, evals) in runs.items():
        firsts = []
        for t in thresholds:
            step = next((e["step"] for e in evals if e["mean"] >= t), None)
            reached[t] += step is not None
            firsts.append(fmt(step, ","))
        final = evals[-1]["mean"] if evals else None
        holding += final is not None and final >= top
        s = summary or {}
        rows.append(
            [str(seed), s.get("status", "no summary")]
            + firsts
            + [
                fmt(final),
                fmt(max((e["mean"] for e in evals), default=None)),
                fmt(s.get("train_steps_per_s"), ",.0f"),
                fmt(s.get("peak_rss_mb"), ".0f"),
            ]
        )

    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print()
    for row in [headers] + rows:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=False)))
    n = len(rows)
    counts = " · ".join(f"{reached[t]}/{n} reached {t:g}" for t in thresholds)
    print(f"\n{counts} · {holding}/{n} hold {top:g} at the final evaluation")
    print(f"bench wall time {bench_wall:.0f} s ({args.workers} at a time); run dirs and logs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
