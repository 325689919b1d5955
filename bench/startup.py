"""Start-up times a user feels: `cockpit --help`, the cockpit's first frame, its first live chart.

    .venv/bin/python bench/startup.py [--rounds 5] [--size 160x48]

The cockpit runs in a private tmux server (its own socket, no user config); the pane is read every
20 ms. First frame: the status strip's state ("● CREATED", ...) is on screen (narrow terminals drop
its title). First live chart: a chart shows data
(fewer "waiting for data" placeholders than charts on screen). Targets: --help and the first frame
under 1 s, the first live chart within 3 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COCKPIT = ROOT / ".venv/bin/cockpit"


def tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", socket, "-f", "/dev/null", *args], capture_output=True, text=True).stdout


def help_time() -> float:
    start = time.perf_counter()
    subprocess.run([str(COCKPIT), "--help"], capture_output=True, check=True)
    return time.perf_counter() - start


def ui_times(size: str, out: Path, index: int) -> tuple[float | None, float | None]:
    width, height = size.split("x")
    socket = f"cockpit-startup-{time.time_ns()}"
    command = f"{COCKPIT} {ROOT / 'presets/cartpole.toml'} --run-dir {out / f'run{index}'}"
    start = time.perf_counter()
    tmux(socket, "new-session", "-d", "-x", width, "-y", height, command)
    first_frame: float | None = None
    first_chart: float | None = None
    try:
        while time.perf_counter() - start < 30 and first_chart is None:
            screen = tmux(socket, "capture-pane", "-p")
            now = time.perf_counter() - start
            if first_frame is None and "● " in screen:
                first_frame = now
            charts = screen.count("╭─ ") - ("Events" in screen)
            if first_frame is not None and 0 < charts and screen.count("waiting for data") < charts:
                first_chart = now
            time.sleep(0.02)
    finally:
        tmux(socket, "kill-server")
    return first_frame, first_chart


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", default="160x48")
    args = parser.parse_args()
    helps = [help_time() for _ in range(args.rounds)]
    with tempfile.TemporaryDirectory() as tmp:
        times = [ui_times(args.size, Path(tmp), i) for i in range(args.rounds)]
    print(
        f"cockpit --help: median {statistics.median(helps) * 1000:.0f} ms (max {max(helps) * 1000:.0f} ms; target < 1 s)"
    )
    for name, index, target in (("first frame", 0, "< 1 s"), ("first live chart", 1, "< 3 s")):
        seen = [t for t in (shown[index] for shown in times) if t is not None]
        figures = (
            f"median {statistics.median(seen):.2f} s (max {max(seen):.2f} s; target {target})" if seen else "never"
        )
        missed = len(times) - len(seen)
        print(
            f"{name} at {args.size}: {figures}"
            + (f" · {missed} of {len(times)} rounds never showed it" if seen and missed else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
