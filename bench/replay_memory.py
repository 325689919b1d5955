"""Replay memory for Atari-sized frames: cockpit's frame buffer against SB3's ReplayBuffer.

    .venv/bin/python bench/replay_memory.py [--transitions 100000]

Fills each buffer with `--transitions` transitions of random 84x84 frames, stacked 4 as
`FrameStackObservation` stacks them (episodes of 400 to 2,000 steps), each in a fresh process, and
prints its peak resident memory, what the buffer added to it per transition, and that figure scaled
to a 1,000,000-transition buffer. SB3 is measured in the peers' venv (`../shared/bench/peers/setup.sh`,
`$PEERS`, default /tmp/cockpit-peers): at DQN's default (a stack for obs and one for next_obs) and
with `optimize_memory_usage` (one stack per transition, as CleanRL's `dqn_atari.py` uses it). Where
that venv is missing, SB3's rows are computed from the layout of its arrays instead, and say so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

FRAME, STACK = (84, 84), 4
TARGET_BYTES = 7.2e3  # per transition, from issue 20


def rss_bytes() -> int:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) * 1024


def stacked_steps(n: int, seed: int = 0):
    """(obs, next_obs, action, reward, terminated, truncated) as a frame-stacked env returns them."""
    rng = np.random.default_rng(seed)
    left = 0
    obs = np.zeros((STACK, *FRAME), np.uint8)
    for _ in range(n):
        if left == 0:
            obs = np.repeat(rng.integers(0, 256, (1, *FRAME), dtype=np.uint8), STACK, axis=0)
            left = int(rng.integers(400, 2001))
        next_obs = np.concatenate([obs[1:], rng.integers(0, 256, (1, *FRAME), dtype=np.uint8)])
        left -= 1
        yield obs, next_obs, int(rng.integers(6)), float(rng.normal()), left == 0, False
        obs = next_obs


def measure(variant: str, n: int) -> dict:
    """Runs in the child: build the buffer, fill it, report peak RSS against the RSS before it."""
    if variant == "cockpit":
        from cockpit.engine.frame_buffer import FrameReplayBuffer

        steps = stacked_steps(n)
        before = rss_bytes()
        buffer = FrameReplayBuffer(n, FRAME, STACK)
        for args in steps:
            buffer.add(*args)
    else:
        import gymnasium as gym
        from stable_baselines3.common.buffers import ReplayBuffer

        space = gym.spaces.Box(0, 255, (STACK, *FRAME), np.uint8)
        optimized = variant == "sb3-optimize-memory"
        steps = stacked_steps(n)
        before = rss_bytes()
        sb3 = ReplayBuffer(
            n,
            space,
            gym.spaces.Discrete(6),
            device="cpu",
            optimize_memory_usage=optimized,
            handle_timeout_termination=not optimized,
        )
        for obs, next_obs, action, reward, terminated, truncated in steps:
            info = [{"TimeLimit.truncated": truncated}]
            sb3.add(obs[None], next_obs[None], np.array([action]), np.array([reward]), np.array([terminated]), info)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"variant": variant, "peak": peak, "before": before, "measured": True}


def sb3_layout(variant: str, n: int) -> dict:
    """SB3's arrays for `n` transitions, from its ReplayBuffer's layout (uint8 stacks, int64 actions,
    float32 rewards, dones and timeouts), where SB3 itself is not at hand."""
    stacks = 1 if variant == "sb3-optimize-memory" else 2
    per = stacks * STACK * FRAME[0] * FRAME[1] + 8 + 3 * 4
    return {"variant": variant, "peak": None, "before": 0, "added": per * n, "measured": False}


def run_child(python: str, variant: str, n: int) -> dict:
    out = subprocess.run(
        [python, __file__, "--child", variant, "--transitions", str(n)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(
            f"{variant}: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}"
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=100_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = args.transitions
    if args.child:
        print(json.dumps(measure(args.child, n)))
        return 0
    peers = Path(os.environ.get("PEERS", "/tmp/cockpit-peers"))
    sb3_python = peers / "sb3/bin/python"
    has_sb3 = (
        sb3_python.exists() and subprocess.run([str(sb3_python), "-c", "import stable_baselines3"]).returncode == 0
    )
    rows = [run_child(sys.executable, "cockpit", n)]
    for variant in ("sb3-default", "sb3-optimize-memory"):
        rows.append(run_child(str(sb3_python), variant, n) if has_sb3 else sb3_layout(variant, n))
    print(f"{n:,} transitions of {FRAME[0]}x{FRAME[1]} frames stacked {STACK}, random pixels")
    print(f"{'buffer':<22}{'peak RSS':>12}{'added':>12}{'per transition':>16}{'at 1M':>10}")
    cockpit_added = None
    for row in rows:
        added = row.get("added", (row["peak"] or 0) - row["before"])
        cockpit_added = cockpit_added or added
        peak = f"{row['peak'] / 2**20:,.0f} MB" if row["peak"] else "-"
        how = "" if row["measured"] else "  (computed from SB3's layout: SB3 not installed)"
        print(
            f"{row['variant']:<22}{peak:>12}{added / 2**20:>9,.0f} MB{added / n:>13,.0f} B"
            f"{added / n * 1e6 / 1e9:>8.1f} GB{how}"
        )
    per = rows[0].get("added", rows[0]["peak"] - rows[0]["before"]) / n
    print(f"cockpit bytes per transition: {per:,.0f} (target <= {TARGET_BYTES:,.0f})")
    for row in rows[1:]:
        added = row.get("added", (row["peak"] or 0) - row["before"])
        print(f"cockpit / {row['variant']}: {cockpit_added / added:.2f} of its memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
