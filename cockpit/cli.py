"""The `cockpit` command: parse arguments, validate the preset, then hand over to a front end.

Only the standard library and the config module are imported before validation, so `--help`
answers at once and a bad preset is reported before torch is loaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cockpit.engine.config import Config, ConfigError, load_preset

EXIT_BAD_INPUT = 2


def run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cockpit",
        description="Train DQN on a preset and watch or steer it live (Textual UI), or headless with --no-ui.",
        epilog="examples:\n"
        "  cockpit presets/cartpole.toml\n"
        "  cockpit presets/cartpole.toml --no-ui --seed 3 --set dqn.learning_rate=1e-3\n"
        "  cockpit presets/cartpole.toml --no-ui --set env.id=Acrobot-v1 --total-steps 20000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("preset", help="a TOML preset with [env], [dqn] and [run] tables")
    parser.add_argument("--no-ui", action="store_true", help="run headless: progress on stdout, for servers")
    parser.add_argument("--seed", type=int, help="override run.seed")
    parser.add_argument("--total-steps", type=int, help="override run.total_steps")
    parser.add_argument(
        "--set", action="append", default=[], metavar="TABLE.KEY=VALUE",
        help="override any preset key, e.g. dqn.learning_rate=1e-3 (repeatable)",
    )
    parser.add_argument("--run-dir", type=Path, help="the run directory to create (default runs/<env>-<preset>-s<seed>-<time>)")
    return parser


def resolve_config(args: argparse.Namespace) -> Config:
    overrides = list(args.set)
    if args.seed is not None:
        overrides.append(f"run.seed={args.seed}")
    if args.total_steps is not None:
        overrides.append(f"run.total_steps={args.total_steps}")
    config = load_preset(args.preset, overrides)

    from cockpit.engine.envs import inspect_env  # gymnasium, not torch

    inspect_env(config.env)
    return config


def cmd_run(argv: list[str]) -> int:
    args = run_parser().parse_args(argv)
    from cockpit.engine.runlog import create_run_dir, default_run_dir

    config = resolve_config(args)
    run_dir = create_run_dir(args.run_dir or default_run_dir(config))
    if not args.no_ui:
        print("cockpit: the Textual UI is not built yet; running headless", file=sys.stderr)
    from cockpit.headless import run_headless

    return run_headless(config, run_dir)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        return cmd_run(argv)
    except ConfigError as e:
        print(f"cockpit: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
