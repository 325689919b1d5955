"""What a full checkpoint of an Atari run costs: bytes written and seconds the loop waits.

    .venv/bin/python bench/checkpoint_cost.py [--capacity 1000000] [--interval 10000] [--checkpoints 5]

Builds the trainer of `presets/pong.toml` with a `--capacity` buffer, fills its frame buffer past
wrap-around (84x84 frames stacked 4, episodes of 400 to 2,000 steps), and takes checkpoints through
the trainer's own path (`Trainer.checkpoint`: weights, optimizer, counters, the replay's segments,
the commit, retention keeping the last `run.checkpoint_keep` = 3): the first writes the whole
buffer (the first checkpoint of a run), then `--checkpoints` more follow `--interval` transitions
apart. Prints, beside the targets of issue 20, the bytes each one wrote (segments, state.pt and
meta.json) and the seconds it blocked, the replay directory's size (bounded by the retention), and
the time to load the whole buffer back (a resume). The buffer needs about 7.1 GB per million
frames: where the memory available is short of it, pass a smaller `--capacity` (the cost of an
incremental checkpoint depends on `--interval`, not on the capacity).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cockpit.engine.checkpoints import META
from cockpit.engine.config import load_preset
from cockpit.engine.frame_buffer import FrameReplayBuffer, FrameSampler, replay_bytes
from cockpit.engine.replay_segments import SegmentStore, replay_dir
from cockpit.engine.trainer import Trainer

PRESET = Path(__file__).resolve().parent.parent / "presets" / "pong.toml"
FRAME, STACK = (84, 84), 4
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
        self.left, self.i, self.episodes = 1000, 0, 0

    def feed(self, buffer: FrameReplayBuffer, n: int) -> None:
        for _ in range(n):
            self.i += 1
            next_obs = np.concatenate([self.obs[1:], self.pool[self.i % len(self.pool)][None]])
            self.left -= 1
            buffer.add(self.obs, next_obs, self.i % 6, 0.0, self.left == 0, False)
            if self.left == 0:
                self.episodes += 1
                self.obs = np.repeat(self.pool[(self.i * 7) % len(self.pool)][None], STACK, axis=0)
                self.left = int(self.rng.integers(400, 2001))
            else:
                self.obs = next_obs


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir())


def checkpoint(trainer: Trainer, steps: Steps) -> tuple[Path, int, float]:
    """A periodic checkpoint at the steps fed so far: (its path, bytes written, seconds blocked)."""
    trainer.progress.step, trainer.progress.episode = steps.i, steps.episodes
    assert trainer.run_dir is not None
    before = {p.name for p in replay_dir(trainer.run_dir).glob("seg-*")}
    start = time.perf_counter()
    path = trainer.checkpoint("periodic")
    blocked = time.perf_counter() - start
    assert path is not None
    new = [p for p in replay_dir(trainer.run_dir).glob("seg-*") if p.name not in before]
    return path, sum(p.stat().st_size for p in new) + size_of(path), blocked


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
    root = Path(tempfile.mkdtemp(prefix="ckpt-cost-", dir=args.dir))
    try:
        config = load_preset(PRESET).replace("dqn", buffer_size=args.capacity)
        trainer = Trainer(config, root / "run")
        assert isinstance(trainer.buffer, FrameReplayBuffer) and isinstance(trainer.sampler, FrameSampler)
        steps = Steps()
        start = time.perf_counter()
        steps.feed(trainer.buffer, args.capacity + args.capacity // 10)
        print(f"filled {steps.i:,} frames in {time.perf_counter() - start:.0f} s ({trainer.buffer.size:,} sampleable)")
        # One update: the optimizer's state (Adam's moments) is part of every checkpoint after it.
        trainer.agent.update(trainer.sampler.sample(config.dqn.batch_size), trainer.info.obs_dim, trainer.dqn)
        path, full_bytes, full_s = checkpoint(trainer, steps)
        print(f"first checkpoint (whole buffer): {full_bytes / 1e9:.2f} GB in {full_s:.1f} s")
        print(
            f"{'checkpoint':>10}{'written':>12}{'target':>10}{'blocked':>10}{'target':>9}{'files':>7}{'replay dir':>12}"
        )
        worst_bytes = worst_s = 0.0
        replay = replay_dir(root / "run")
        for k in range(1, args.checkpoints + 1):
            steps.feed(trainer.buffer, args.interval)
            files_before = {p.name for p in replay.iterdir()}
            path, written, blocked = checkpoint(trainer, steps)
            new_files = len({p.name for p in replay.iterdir()} - files_before)
            worst_bytes, worst_s = max(worst_bytes, written), max(worst_s, blocked)
            print(
                f"{k:>10}{written / 1e6:>9.0f} MB{TARGET_BYTES / 1e6:>7.0f} MB{blocked:>8.2f} s"
                f"{TARGET_SECONDS:>7.1f} s{new_files:>7}{size_of(replay) / 1e9:>9.2f} GB"
            )
        keep = config.run.checkpoint_keep
        bound = full_bytes + keep * worst_bytes
        print(f"worst checkpoint: {worst_bytes / 1e6:.0f} MB written (target <= {TARGET_BYTES / 1e6:.0f} MB), ", end="")
        print(f"{worst_s:.2f} s blocked (target <= {TARGET_SECONDS:.0f} s)")
        print(f"replay dir {size_of(replay) / 1e9:.2f} GB, bounded by {bound / 1e9:.2f} GB (keep {keep})")
        manifest = json.loads((path / META).read_text())["replay"]
        start = time.perf_counter()
        SegmentStore(root / "run").load(manifest, into=trainer.buffer)
        print(f"loading the whole buffer back (a resume): {time.perf_counter() - start:.1f} s")
        trainer.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
