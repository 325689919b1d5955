"""Make docs/cockpit.svg: the cockpit, screenshotted by the app itself at the end of a short real run.

    .venv/bin/python scripts/screenshot.py [--steps 30000] [--size 150x44] [--out docs/cockpit.svg]

The app is the one `cockpit PRESET` opens (the same factory), driven headless by Textual's
`run_test`; the run trains the cartpole preset in a temporary directory, which goes afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTLE_S = 6.0
"""After the run ends: time for the cockpit's paced redraws to bring every chart up to date."""


async def screenshot(preset: Path, steps: int, size: tuple[int, int], out: Path, timeout_s: float) -> None:
    from cockpit.engine.config import load_preset
    from cockpit.ui.launch import create_app

    config = load_preset(preset, [f"run.total_steps={steps}"])
    out = out.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # paths in the events pane read as a user's would: runs/...
        run_dir = Path("runs") / f"{config.env.id}-{config.name}-s{config.run.seed}"
        app = create_app(config, run_dir, refresh_s=0.25)
        async with app.run_test(size=size) as pilot:
            deadline = time.monotonic() + timeout_s
            while not (run_dir / "summary.json").exists():
                if not app.is_running:
                    raise SystemExit("the cockpit stopped before the run ended")
                if time.monotonic() > deadline:
                    raise SystemExit(f"the run did not end within {timeout_s:g} s")
                await pilot.pause(0.2)
            await pilot.pause(SETTLE_S)
            app.save_screenshot(out.name, str(out.parent))
        os.chdir(ROOT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", type=Path, default=ROOT / "presets" / "cartpole.toml")
    parser.add_argument("--steps", type=int, default=30_000, help="the run's length (default 30000)")
    parser.add_argument("--size", default="150x44", help="terminal columns x rows (default 150x44)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "cockpit.svg")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds the run may take (default 600)")
    args = parser.parse_args()
    columns, _, rows = args.size.partition("x")
    asyncio.run(screenshot(args.preset, args.steps, (int(columns), int(rows)), args.out, args.timeout))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
