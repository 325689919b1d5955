"""Training speed and peak memory against Stable-Baselines3 and CleanRL, measured side by side.

    .venv/bin/python bench/speed.py [--rounds 3] [--total-steps 20000] [--compute autograd]

Each round runs cockpit headless, SB3 and CleanRL (../shared/bench/peers/, set up by its setup.sh)
one after another, the order rotating per round, at the cartpole preset's hyperparameters with one
torch thread. Training steps/s: cockpit's `train_steps_per_s` from summary.json, each peer's own
count (all three leave out start-up and evaluation). Machines differ 2x in speed, so only the ratios
within a round mean anything. Targets: cockpit >= 2x SB3 and >= 1.5x CleanRL in steps/s, and peak
RSS (of each whole process, getrusage of the child) no more than CleanRL's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS_DIR = ROOT.parent / "shared" / "bench" / "peers"
PEERS_ENV = Path(os.environ.get("PEERS", "/tmp/cockpit-peers"))
CLEANRL = Path(os.environ.get("CLEANRL", "/tmp/cleanrl"))
MEASURE = (
    "import resource, subprocess, sys, json; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "print(json.dumps({'rc': p.returncode, 'out': p.stdout[-4000:], 'err': p.stderr[-2000:], "
    "'rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))"
)


def measure(cmd: list[str]) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True)
    result = json.loads(done.stdout)
    result["wall_s"] = time.perf_counter() - start
    if result["rc"] != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{result['err']}")
    return result


def run_cockpit(preset: Path, seed: int, total: int, out: Path, overrides: list[str]) -> dict:
    run_dir = out / f"cockpit-s{seed}-{time.time_ns()}"
    r = measure(
        [
            str(ROOT / ".venv/bin/cockpit"),
            str(preset),
            "--no-ui",
            "--seed",
            str(seed),
            "--total-steps",
            str(total),
            "--run-dir",
            str(run_dir),
            *(arg for override in overrides for arg in ("--set", override)),
        ]
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    return {"sps": summary["train_steps_per_s"], "rss_mb": r["rss_mb"]}


def run_sb3(seed: int, total: int) -> dict:
    r = measure([str(PEERS_ENV / "sb3/bin/python"), str(PEERS_DIR / "sb3_dqn.py"), str(seed), "1", str(total)])
    line = json.loads(r["out"].strip().splitlines()[-1])
    return {"sps": line.get("train_sps") or line.get("steps_per_s"), "rss_mb": r["rss_mb"]}


def run_cleanrl(seed: int, total: int) -> dict:
    r = measure(["bash", str(PEERS_DIR / "cleanrl_dqn.sh"), str(CLEANRL), str(seed), str(total)])
    line = json.loads(r["out"].strip().splitlines()[-1])
    return {"sps": line["train_sps"], "rss_mb": r["rss_mb"]}


TARGETS = {"sb3": 2.0, "cleanrl": 1.5}
"""cockpit's training steps/s over each peer's, at least."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", type=Path, default=ROOT / "presets/cartpole.toml")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--total-steps", type=int, default=20_000)
    parser.add_argument(
        "--compute",
        choices=("fast", "autograd"),
        default="fast",
        help="cockpit's update path (run.compute; the peers' runs are not affected)",
    )
    args = parser.parse_args()
    compute = [f"run.compute={args.compute}"]
    ratios: dict[str, list[float]] = {"sb3": [], "cleanrl": []}
    rss: dict[str, list[float]] = {"cockpit": [], "sb3": [], "cleanrl": []}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        runners = [
            ("cockpit", lambda s: run_cockpit(args.preset, s, args.total_steps, out, compute)),
            ("sb3", lambda s: run_sb3(s, args.total_steps)),
            ("cleanrl", lambda s: run_cleanrl(s, args.total_steps)),
        ]
        for rnd in range(args.rounds):
            order = runners[rnd % 3 :] + runners[: rnd % 3]
            results = {name: run(1 + rnd) for name, run in order}
            for peer in ratios:
                ratios[peer].append(results["cockpit"]["sps"] / results[peer]["sps"])
            for name, result in results.items():
                rss[name].append(result["rss_mb"])
            print(
                f"round {rnd + 1} ({' → '.join(n for n, _ in order)}): "
                + " · ".join(f"{n} {r['sps']:,.0f} steps/s, peak RSS {r['rss_mb']:.0f} MB" for n, r in results.items()),
                flush=True,
            )
    medians = {peer: statistics.median(values) for peer, values in ratios.items()}
    for peer, name in (("sb3", "SB3"), ("cleanrl", "CleanRL")):
        print(
            f"cockpit / {name}, training steps/s: median {medians[peer]:.2f}x (target ≥ {TARGETS[peer]:g}x; per round "
            f"{', '.join(f'{x:.2f}' for x in ratios[peer])})"
        )
    peak = {name: max(values) for name, values in rss.items()}
    print(
        f"peak RSS: cockpit {peak['cockpit']:.0f} MB, CleanRL {peak['cleanrl']:.0f} MB, SB3 {peak['sb3']:.0f} MB "
        "(target: cockpit ≤ CleanRL)"
    )
    met = all(medians[p] >= TARGETS[p] for p in TARGETS) and peak["cockpit"] <= peak["cleanrl"]
    print("targets " + ("MET" if met else "NOT MET"))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
