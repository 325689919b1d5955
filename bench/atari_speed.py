"""Cockpit against Stable-Baselines3 on Pong: training speed, thread scaling, replay memory, and where
cockpit's time goes.

    .venv/bin/python bench/atari_sb3.py setup                      # SB3's venv, once
    .venv/bin/python bench/atari_speed.py speed [--rounds 3 --steps 4000 --warmup 2000]
    .venv/bin/python bench/atari_speed.py memory [--buffer 100000]
    .venv/bin/python bench/atari_speed.py profile [--steps 3000 --warmup 1000]

`speed`: presets/pong.toml with a shortened warm-up, headless, against SB3's DQN at the same values
(bench/atari_sb3.py), interleaved rounds, one torch thread each; then cockpit at `run.threads = 2`.
Both count training steps/s after the warm-up (cockpit from its per-chunk timing records, SB3 from a
callback). Prints each run and the medians' ratios.

`memory`: peak RSS of one run of each whose replay holds `--buffer` transitions (a warm-up of that
many random steps fills it), SB3 at its default and with `optimize_memory_usage`; this one takes
minutes, as every transition is an emulator step.

`profile`: cProfile of a short cockpit run in this process (one thread, a short random warm-up
included), its functions by cumulative time: the update (forward, backward, Adam), acting, the
emulator and its wrappers, the replay.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COCKPIT = Path(sys.executable).with_name("cockpit")
SB3 = REPO / "bench" / "atari_sb3.py"
PRESET = REPO / "presets" / "pong.toml"
CHUNK = 100
"""Steps per timing record with run.log_interval = 100 (the trainer's publish interval)."""


def cockpit_run(out: Path, steps: int, warmup: int, threads: int = 1, buffer: int | None = None) -> dict:
    run_dir = Path(tempfile.mkdtemp(dir=out, prefix=f"cockpit-t{threads}-"))
    sets = [f"dqn.warmup_steps={warmup}", f"run.threads={threads}", f"run.log_interval={CHUNK}"]
    sets += [f"dqn.buffer_size={buffer}"] if buffer else []
    cmd = [str(COCKPIT), str(PRESET), "--no-ui", "--total-steps", str(steps), "--run-dir", str(run_dir / "run")]
    for text in sets:
        cmd += ["--set", text]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    summary = json.loads((run_dir / "run" / "summary.json").read_text())
    timing = [json.loads(line) for line in (run_dir / "run" / "timing.jsonl").read_text().splitlines()]
    trained = [r["steps_per_s"] for r in timing if r["kind"] == "train" and r["step"] > warmup]
    seconds = sum(CHUNK / s for s in trained)
    return {
        "peer": "cockpit",
        "threads": threads,
        "buffer": buffer,
        "steps": steps,
        "warmup": warmup,
        "train_steps_per_s": round(len(trained) * CHUNK / seconds, 1) if trained else None,
        "peak_rss_mb": round(summary["peak_rss_mb"]),
    }


def sb3_run(steps: int, warmup: int, threads: int = 1, buffer: int | None = None, optimize: bool = False) -> dict:
    cmd = [sys.executable, str(SB3), "run", "--steps", str(steps), "--warmup", str(warmup), "--threads", str(threads)]
    cmd += ["--buffer", str(buffer)] if buffer else []
    cmd += ["--optimize-memory"] if optimize else []
    lines = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()
    return json.loads(lines[-1])


def speed(args: argparse.Namespace, out: Path) -> None:
    rows: dict[str, list[float]] = {"cockpit": [], "sb3": [], "cockpit-2-threads": []}
    for round_ in range(args.rounds):
        runs = [
            ("cockpit", lambda: cockpit_run(out, args.steps, args.warmup, buffer=args.buffer)),
            ("sb3", lambda: sb3_run(args.steps, args.warmup, buffer=args.buffer)),
            ("cockpit-2-threads", lambda: cockpit_run(out, args.steps, args.warmup, threads=2, buffer=args.buffer)),
        ]
        if round_ % 2:
            runs[:2] = runs[1::-1]  # interleaved: who goes first alternates
        for name, run in runs:
            result = run()
            rows[name].append(result["train_steps_per_s"])
            print(json.dumps({"round": round_ + 1, "name": name, **result}), flush=True)
    medians = {name: statistics.median(values) for name, values in rows.items()}
    print(
        json.dumps(
            {
                "median_steps_per_s": medians,
                "cockpit_over_sb3": round(medians["cockpit"] / medians["sb3"], 2),
                "two_threads_over_one": round(medians["cockpit-2-threads"] / medians["cockpit"], 2),
            }
        )
    )


def memory(args: argparse.Namespace, out: Path) -> None:
    steps, warmup = args.buffer + 500, args.buffer
    runs = [
        cockpit_run(out, steps, warmup, buffer=args.buffer),
        sb3_run(steps, warmup, buffer=args.buffer),
        sb3_run(steps, warmup, buffer=args.buffer, optimize=True),
    ]
    for result in runs:
        print(json.dumps({k: result.get(k) for k in ("peer", "buffer", "optimize_memory_usage", "peak_rss_mb")}))
    print(json.dumps({"cockpit_over_sb3_default": round(runs[0]["peak_rss_mb"] / runs[1]["peak_rss_mb"], 3)}))


def profile(args: argparse.Namespace) -> None:
    from cockpit.engine.config import load_preset
    from cockpit.engine.trainer import Trainer

    config = load_preset(str(PRESET))
    config = config.replace("dqn", warmup_steps=args.warmup).replace("run", total_steps=args.steps, eval_freq=10**9)
    trainer = Trainer(config)
    profiler = cProfile.Profile()
    profiler.enable()
    trainer.run()
    profiler.disable()
    trainer.close()
    stats = pstats.Stats(profiler)
    rows = stats.get_stats_profile().func_profiles
    total = max(row.cumtime for row in rows.values())
    print(f"{args.steps:,} steps ({args.warmup:,} of them random warm-up), {total:.1f} s profiled")
    for name, row in sorted(rows.items(), key=lambda item: -item[1].cumtime)[: args.top]:
        where = f"{Path(row.file_name).name}:{name}"
        print(f"{row.cumtime / total:6.1%} cumulative {row.tottime / total:6.1%} own  {where}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("speed")
    run.add_argument("--rounds", type=int, default=3)
    run.add_argument("--steps", type=int, default=4_000, help="agent steps per run, warm-up included")
    run.add_argument("--warmup", type=int, default=2_000)
    run.add_argument("--buffer", type=int, default=100_000, help="replay capacity of both runs")
    mem = sub.add_parser("memory")
    mem.add_argument("--buffer", type=int, default=100_000)
    prof = sub.add_parser("profile")
    prof.add_argument("--steps", type=int, default=3_000)
    prof.add_argument("--warmup", type=int, default=1_000)
    prof.add_argument("--top", type=int, default=30, help="functions listed, by cumulative time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="atari-speed-") as tmp:
        if args.command == "speed":
            speed(args, Path(tmp))
        elif args.command == "memory":
            memory(args, Path(tmp))
        else:
            profile(args)


if __name__ == "__main__":
    main()
