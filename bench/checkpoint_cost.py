"""What a replay checkpoint costs at Atari scale: bytes written and seconds the loop waits.

    .venv/bin/python bench/checkpoint_cost.py [--capacity 1000000] [--interval 10000] [--checkpoints 5]

Fills a frame buffer of `--capacity` 84x84 frames (stacked 4, episodes of 400 to 2,000 steps) past
wrap-around, saves it whole once into a temporary run directory (the first checkpoint of a run, or
the first after a fork), then takes `--checkpoints` checkpoints `--interval` transitions apart,
each a segment save plus garbage collection keeping the last three manifests, as a run with
`run.checkpoint_keep = 3` would. Prints, beside the targets of issue 20, the bytes each one wrote
and the seconds it blocked, the replay directory's size (bounded by the retention), and the time
to load the whole buffer back (a resume). The buffer needs about 7.1 GB per million frames: where
the memory available is short of it, pass a smaller `--capacity` and scale (the cost of an
incremental checkpoint depends on `--interval`, not on the capacity).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cockpit.engine.frame_buffer import FrameReplayBuffer, replay_bytes
from cockpit.engine.replay_segments import SegmentStore

FRAME, STACK, KEEP = (84, 84), 4, 3
TARGET_BYTES, TARGET_SECONDS = 100e6, 2.0


def available_bytes() -> int:
    meminfo = Path("/proc/meminfo").read_text()
    return int(meminfo.split("MemAvailable:")[1].split()[0]) * 1024


class Steps:
    """Frame-stacked steps from a pool of random frames: drawing 7 GB of fresh random pixels would
    time the generator, and pixel values do not change what a segment costs to write."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.pool = self.rng.integers(0, 256, (4096, *FRAME), dtype=np.uint8)
        self.obs = np.repeat(self.pool[:1], STACK, axis=0)
        self.left, self.i = 1000, 0

    def feed(self, buffer: FrameReplayBuffer, n: int) -> None:
        for _ in range(n):
            self.i += 1
            next_obs = np.concatenate([self.obs[1:], self.pool[self.i % len(self.pool)][None]])
            self.left -= 1
            buffer.add(self.obs, next_obs, self.i % 6, 0.0, self.left == 0, False)
            if self.left == 0:
                self.obs = np.repeat(self.pool[(self.i * 7) % len(self.pool)][None], STACK, axis=0)
                self.left = int(self.rng.integers(400, 2001))
            else:
                self.obs = next_obs


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=1_000_000)
    parser.add_argument("--interval", type=int, default=10_000)
    parser.add_argument("--checkpoints", type=int, default=5)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the run directory goes (default: a temporary one)"
    )
    args = parser.parse_args()
    need, have = replay_bytes(args.capacity, FRAME), available_bytes()
    print(f"buffer of {args.capacity:,} frames needs {need / 1e9:.1f} GB; {have / 1e9:.1f} GB available")
    if need > 0.8 * have:
        print("not enough memory: pass a smaller --capacity (the incremental cost does not depend on it)")
        return 2
    run_dir = Path(tempfile.mkdtemp(prefix="ckpt-cost-", dir=args.dir))
    try:
        buffer, steps = FrameReplayBuffer(args.capacity, FRAME, STACK), Steps()
        start = time.perf_counter()
        steps.feed(buffer, args.capacity + args.capacity // 10)
        print(f"filled {buffer.written:,} frames in {time.perf_counter() - start:.0f} s ({buffer.size:,} sampleable)")
        store = SegmentStore(run_dir)
        start = time.perf_counter()
        kept = [store.save(buffer)]
        full_s, full_bytes = time.perf_counter() - start, size_of(run_dir / "replay")
        print(f"first checkpoint (whole buffer): {full_bytes / 1e9:.2f} GB in {full_s:.1f} s")
        print(
            f"{'checkpoint':>10}{'written':>12}{'target':>10}{'blocked':>10}{'target':>9}{'files':>7}{'replay dir':>12}"
        )
        worst_bytes = worst_s = 0.0
        for k in range(1, args.checkpoints + 1):
            steps.feed(buffer, args.interval)
            start = time.perf_counter()
            manifest = store.save(buffer)
            kept = [*kept, manifest][-KEEP:]
            store.collect_garbage(kept)
            blocked = time.perf_counter() - start
            written = sum((run_dir / "replay" / name).stat().st_size for name in store.last_written)
            worst_bytes, worst_s = max(worst_bytes, written), max(worst_s, blocked)
            print(
                f"{k:>10}{written / 1e6:>9.0f} MB{TARGET_BYTES / 1e6:>7.0f} MB{blocked:>8.2f} s"
                f"{TARGET_SECONDS:>7.1f} s{len(store.last_written):>7}{size_of(run_dir / 'replay') / 1e9:>9.2f} GB"
            )
        bound = full_bytes + (KEEP - 1) * worst_bytes
        print(f"worst checkpoint: {worst_bytes / 1e6:.0f} MB written (target <= {TARGET_BYTES / 1e6:.0f} MB), ", end="")
        print(f"{worst_s:.2f} s blocked (target <= {TARGET_SECONDS:.0f} s)")
        print(f"replay dir {size_of(run_dir / 'replay') / 1e9:.2f} GB, bounded by {bound / 1e9:.2f} GB (keep {KEEP})")
        start = time.perf_counter()
        SegmentStore(run_dir).load(kept[-1], into=buffer)
        print(f"loading the whole buffer back (a resume): {time.perf_counter() - start:.1f} s")
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
