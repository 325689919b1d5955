"""What a render costs training: steps/s of the cockpit with renders playing back to back against
the same run with none.

For R rounds, runs the same preset with the same seed and step count twice, each in a process of
its own driving the cockpit with Textual's `App.run_test()` (a headless terminal of --size that
still lays out and draws every frame):
  renders  the `r` key's action as soon as the run is going, and again (close, then open) each time
           an episode's render ends, until training ends: a render on screen nearly the whole run
           (the share is printed)
  plain    the same app, no key pressed
Each run's `train_steps_per_s` comes from its summary.json (steps over training time, evaluation
excluded). The ratio renders / plain is reported per round, then the median against the target:
training keeps at least 0.8 of its speed during renders. The runs of a round must log the same
metrics.jsonl: a render (its own env, a snapshot of the weights) must not change results.

The order of a round's runs alternates (renders first, then plain first, ...): on a shared machine
the load drifts, and a fixed order would charge that drift to one side.

    .venv/bin/python bench/render_overhead.py                     # cartpole, 20,000 steps, 4 rounds
    .venv/bin/python bench/render_overhead.py --rounds 2 --total-steps 10000 --size 80x24

Exit status: 0 when the median ratio meets the target and the results match, 1 when not, 2 when a
run failed. Run directories are kept under --out (default: a new temp dir).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.8
"""Training during renders keeps at least this share of its speed without."""
POLL_S = 0.05
"""How often the driver looks whether a render ended: the next starts at once, so that a render is
on screen nearly the whole run."""


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("preset", type=Path, nargs="?", default=Path("presets/cartpole.toml"))
    p.add_argument("--seed", type=int, default=1, help="run seed, the same for both sides (default 1)")
    p.add_argument("--total-steps", type=int, default=20000, help="steps per run (default 20000)")
    p.add_argument("--rounds", type=int, default=4, help="rounds of one run of each side (default 4)")
    p.add_argument("--size", default="160x48", help="the app's terminal, COLUMNSxROWS (default 160x48)")
    p.add_argument("--out", type=Path, help="directory for run dirs (default: a new temp dir)")
    p.add_argument("--side", choices=("renders", "plain"), help=argparse.SUPPRESS)  # one run, in a child
    p.add_argument("--run-dir", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    match = re.fullmatch(r"(\d+)x(\d+)", args.size)
    if not match or int(match[1]) < 80 or int(match[2]) < 24:
        p.error(f"--size {args.size}: expected COLUMNSxROWS of at least 80x24, e.g. 160x48")
    args.columns, args.rows = int(match[1]), int(match[2])
    if args.rounds < 1 or args.total_steps < 1:
        p.error("--rounds and --total-steps must be >= 1")
    return args


async def one_run(args: argparse.Namespace) -> dict:
    """The cockpit on one run, pressing `r` throughout on the renders side; what it rendered."""
    from cockpit.engine.config import load_preset
    from cockpit.ui.launch import create_app

    config = load_preset(args.preset, [f"run.seed={args.seed}", f"run.total_steps={args.total_steps}"])
    app = create_app(config, args.run_dir)
    renders = args.side == "renders"
    rendering_s = 0.0
    async with app.run_test(size=(args.columns, args.rows)) as pilot:
        await app.trainer_started.wait()
        while app.store.status.step == 0 and not app.run_state.ended:
            await pilot.pause(POLL_S)
        started = time.monotonic()
        while not app.run_state.ended:
            panel = app.render_panel
            if renders and not panel.is_open:
                app.action_render()  # as the key does, without the Pilot's wait for the screen to settle
            elif renders and app.state_override is None:  # the episode is over: close it, start another
                app.action_render()
                continue
            before, was_open = time.monotonic(), panel.is_open
            await pilot.pause(POLL_S)
            if was_open and panel.is_open:
                rendering_s += time.monotonic() - before
        wall = time.monotonic() - started
        assert app.trainer_worker is not None  # started before the first step
        await app.trainer_worker.wait()
    return {"renders": app.renders, "render_share": min(1.0, rendering_s / max(wall, 1e-9))}


def run_side(args: argparse.Namespace, side: str, run_dir: Path) -> tuple[dict, dict]:
    """One run in a child process: its summary and what it rendered."""
    cmd = [sys.executable, __file__, str(args.preset), "--seed", str(args.seed), "--total-steps"]
    cmd += [str(args.total_steps), "--size", args.size, "--side", side, "--run-dir", str(run_dir)]
    result = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"{side} run exited {result.returncode}:\n{result.stderr[-2000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    if summary.get("status") != "finished" or not summary.get("train_steps_per_s"):
        raise RuntimeError(f"{run_dir}: status {summary.get('status')}, error {summary.get('error')}")
    return summary, json.loads(result.stdout.strip().splitlines()[-1])


def same_results(a: Path, b: Path) -> bool:
    return (a / "metrics.jsonl").read_text() == (b / "metrics.jsonl").read_text()


def main() -> int:
    args = parse_args()
    if args.side is not None:
        print(json.dumps(asyncio.run(one_run(args))), flush=True)
        return 0
    out = (args.out or Path(tempfile.mkdtemp(prefix="render-overhead-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"{args.preset} · seed {args.seed} · {args.total_steps:,} steps · {args.rounds} rounds · "
        f"{args.columns}x{args.rows} · {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} → {out}",
        flush=True,
    )
    ratios, all_same = [], True
    for r in range(1, args.rounds + 1):
        order = ("renders", "plain") if r % 2 else ("plain", "renders")
        sps, dirs = {}, {side: out / f"r{r}-{side}" for side in order}
        for side in order:
            try:
                summary, seen = run_side(args, side, dirs[side])
            except RuntimeError as e:
                print(f"round {r}, {side}: {e}", file=sys.stderr)
                return 2
            sps[side] = summary["train_steps_per_s"]
            extra = (
                f" · {seen['renders']} renders, on screen {seen['render_share']:.0%} of training"
                if seen["renders"]
                else ""
            )
            print(f"  round {r} {side:>7}: {sps[side]:7,.0f} training steps/s{extra}", flush=True)
        same = same_results(dirs["renders"], dirs["plain"])
        all_same &= same
        ratios.append(sps["renders"] / sps["plain"])
        print(f"  round {r}: renders/plain {ratios[-1]:.3f} · metrics.jsonl {'same' if same else 'DIFFERENT'}")
    median = statistics.median(ratios)
    meets = median >= TARGET
    print(
        f"\nrenders/plain: median {median:.3f} over {len(ratios)} rounds (min {min(ratios):.3f}, max "
        f"{max(ratios):.3f}) · target ≥ {TARGET}: {'MET' if meets else 'NOT MET'}"
    )
    print("results: " + ("identical with and without renders" if all_same else "DIFFER with renders"))
    return 0 if meets and all_same else 1


if __name__ == "__main__":
    sys.exit(main())
