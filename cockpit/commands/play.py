"""`cockpit play PRESET`: act in the preset's environment from the keyboard and watch what comes back."""

from __future__ import annotations

import argparse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cockpit play",
        description="Render the preset's environment in the terminal and act from the keyboard: number keys "
        "pick an action (key 1 is action 0), arrows where they fit, n steps randomly, R resets with the "
        "next seed, q quits. Each step shows the observation, the reward, terminated/truncated and the return.",
    )
    p.add_argument("preset", help="a TOML preset with [env], [dqn] and [run] tables")
    p.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE",
                   help="override any preset key, as for a run (repeatable)")
    p.add_argument("--seed", type=int, help="override run.seed (the reset seeds derive from it)")
    p.set_defaults(fork=None, total_steps=None)
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from cockpit.cli import resolve_config

    config = resolve_config(args)
    from cockpit.ui.play_app import create_play_app

    create_play_app(config).run()
    return 0
