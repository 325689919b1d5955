"""Peak memory over a long headless run: is it flat?

    .venv/bin/python bench/memory_long.py [--total-steps 1000000] [--every 30]

Runs the cartpole preset headless for `--total-steps` steps (scheduled evaluations every 50,000
steps, to spend the time on training) and prints the process's resident memory every `--every`
seconds from /proc, then the first, the largest and the last sample. The replay buffer is full
before the first sample, so everything after it should be flat. Target: the largest sample at most
TARGET_GROWTH_MB above the first.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_GROWTH_MB = 5.0


def rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return None
    if "VmRSS:" not in status:  # exited, not yet reaped
        return None
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-steps", type=int, default=1_000_000)
    parser.add_argument("--every", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = open(Path(tmp) / "run.log", "w+")  # a file, not a pipe: a full pipe would block the run
        run = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/cockpit"),
                str(ROOT / "presets/cartpole.toml"),
                "--no-ui",
                "--total-steps",
                str(args.total_steps),
                "--set",
                "run.eval_freq=50000",
                "--run-dir",
                str(Path(tmp) / "run"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        samples = []
        start = time.monotonic()
        while run.poll() is None:
            time.sleep(args.every)
            rss = rss_mb(run.pid)
            if rss is not None:
                samples.append(rss)
                print(f"{time.monotonic() - start:7.0f} s  RSS {rss:6.1f} MB", flush=True)
        log.seek(0)
        tail = log.read().strip().splitlines()[-3:]
        log.close()
    print("\n".join(tail))
    growth = max(samples) - samples[0]
    print(
        f"RSS first sample {samples[0]:.1f} MB · largest {max(samples):.1f} MB · last {samples[-1]:.1f} MB "
        f"over {len(samples)} samples · growth {growth:.1f} MB (target ≤ {TARGET_GROWTH_MB:g} MB: "
        f"{'MET' if growth <= TARGET_GROWTH_MB else 'NOT MET'})"
    )
    return run.returncode or (0 if growth <= TARGET_GROWTH_MB else 1)


if __name__ == "__main__":
    sys.exit(main())
