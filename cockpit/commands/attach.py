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
    return p


def history_store(run_dir: Path):
    """A RemoteStore holding the run's logs. A live run's half-written last line is left for the next
    read; a damaged log is refused, naming its file and line."""
    from cockpit.engine.history import load_history
    from cockpit.remote.client import RemoteStore

    return load_history(run_dir, RemoteStore())


def create_attach_app(run_dir: Path, refresh_s: float | None = None):
    """The cockpit attached to the run in `run_dir` (its history read-only when nothing listens)."""
    from cockpit.cli import run_dir_config
    from cockpit.remote.client import CONNECT_TIMEOUT_S, Connection, ConnectionLost, RemoteControl
    from cockpit.remote.protocol import ProtocolError
    from cockpit.remote.runs import probe
    from cockpit.ui.app import CockpitApp
    from cockpit.ui.launch import title_of

    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no config.toml)")
    title = title_of(run_dir_config(run_dir))
    kwargs = {} if refresh_s is None else {"refresh_s": refresh_s}
    found = probe(run_dir)
    store = history_store(run_dir)
    reason = found.reason
    if found.listening:
        try:
            connection = Connection(found.socket)
        except ConnectionLost as e:
            reason = f"cannot connect to the run ({e})"
        else:
            connection.on_close = store.lost
            last_time = store.events[-1].get("time") if store.events else None
            try:
                connection.subscribe(store.apply, store.status.get("step", 0), last_time).result(CONNECT_TIMEOUT_S)
            except (ConnectionLost, ProtocolError, TimeoutError) as e:
                connection.close()
                reason = f"cannot subscribe to the run ({e})"
            else:
                pid = connection.hello.get("pid")
                return CockpitApp(
                    f"{title} · attached",
                    RemoteControl(connection, store),
                    store,
                    run_dir=run_dir,
                    render_episode=lambda policy, number: policy["frames"],
                    attached=True,
                    notice=f"attached to the run (pid {pid}): q detaches, the run goes on; S stops it",
                    **kwargs,
                )
    if found.state in ("dead", "running"):
        store.publish({"state": "dead" if found.state == "dead" else "not listening"})
    return CockpitApp(
        f"{title} · read-only", None, store, run_dir=run_dir, attached=True, notice=f"read-only: {reason}", **kwargs
    )


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if not (args.run_dir / "config.toml").is_file():
        raise ConfigError(f"{args.run_dir}: not a run directory (no config.toml)")
    if args.port is not None and not (args.web and 0 < args.port < 65536):
        raise ConfigError(f"--port {args.port}: expected --web and a port from 1 to 65535")
    if args.web:
        from cockpit.remote.web import serve

        history_store(args.run_dir)  # a damaged run is refused here, not in each browser's viewer

        return serve(args.run_dir, args.port)
    app = create_attach_app(args.run_dir)
    app.run()
    return app.return_code or 0  # 130 / 143 / 129: detached by SIGINT (or ctrl+c) / SIGTERM / SIGHUP
