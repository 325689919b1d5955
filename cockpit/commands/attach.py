"""`cockpit attach RUN_DIR`: the cockpit on a headless run in another process, or its history,
read-only, when the run is over or dead; with --web, the same in a browser."""

from __future__ import annotations

import argparse
from pathlib import Path

from cockpit.engine.config import ConfigError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cockpit attach",
        description="Open the cockpit on a run started with --no-ui: its charts from the logs, then live; every "
        "key acts on the running trainer. q detaches (the run goes on); S stops the run (after asking). Several "
        "viewers may attach at once. A finished or dead run opens read-only.",
        epilog="examples:\n"
        "  cockpit attach runs/CartPole-v1-cartpole-s1-20261124-120000\n"
        "  cockpit attach RUN_DIR --web --port 8765   # then open the printed address (it holds the token)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", type=Path, help="the run's directory")
    p.add_argument(
        "--web",
        action="store_true",
        help="serve the cockpit to a browser (textual-serve) on 127.0.0.1, behind a random token",
    )
    p.add_argument("--port", type=int, help="with --web: the port (default: a free one)")
    p.add_argument(
        "--baseline",
        type=Path,
        metavar="OTHER_RUN_DIR",
        help="draw another run's evaluations and training returns on the return chart, to beat "
        "(default for a fork: its parent)",
    )
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if not (args.run_dir / "config.toml").is_file():
        raise ConfigError(f"{args.run_dir}: not a run directory (no config.toml)")
    if args.port is not None and not (args.web and 0 < args.port < 65536):
        raise ConfigError(f"--port {args.port}: expected --web and a port from 1 to 65535")
    if args.baseline is not None:
        from cockpit.ui.baseline import load_baseline

        load_baseline(args.baseline)  # a damaged run: one line, exit 2, before any viewer starts
    if args.web:
        from cockpit.remote.web import serve
        from cockpit.ui.launch import history_store

        history_store(args.run_dir)  # a damaged run is refused here, not in each browser's viewer

        return serve(
            args.run_dir, args.port, [] if args.baseline is None else ["--baseline", str(args.baseline.resolve())]
        )
    from cockpit.ui.launch import create_attach_app

    app = create_attach_app(args.run_dir, baseline=args.baseline)
    app.run()
    return app.return_code or 0  # 130 / 143 / 129: detached by SIGINT (or ctrl+c) / SIGTERM / SIGHUP
