"""`cockpit ctl RUN_DIR ACTION`: the cockpit's commands for scripts and cron jobs, sent to a headless
run through its control socket. Prints the result; the exit status says what happened."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cockpit.engine.config import LIVE_KEYS, ConfigError, parse_override, validate_live_change
from cockpit.engine.config_values import ALERT_KINDS
from cockpit.engine.contract import Reply, RunState, RunStatus
from cockpit.engine.control import Command, CommandKind
from cockpit.presets import run_dir_config
from cockpit.text import progress_line, reply_text

EXIT_REFUSED = 1
EXIT_NOT_LISTENING = 3
ACTIONS: dict[str, CommandKind | None] = {
    "pause": CommandKind.PAUSE,
    "resume": CommandKind.RESUME,
    "eval": CommandKind.EVALUATE,
    "checkpoint": CommandKind.CHECKPOINT,
    "stop": CommandKind.STOP,
    "set": CommandKind.SET,
    "mute": CommandKind.MUTE,
    "unmute": CommandKind.UNMUTE,
    "status": None,
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cockpit ctl",
        description="Send one command to a headless run (cockpit PRESET --no-ui) and print its answer. "
        "Exit status: 0 done, 1 the run refused it (the reason on stderr), did not answer in time, or is busy "
        "(all its viewer slots taken), 2 bad input, 3 no run is listening (ended, killed, or not a headless run).",
        epilog="examples:\n"
        "  cockpit ctl runs/CartPole-v1-cartpole-s1-20261124-120000 eval\n"
        "  cockpit ctl RUN_DIR set dqn.learning_rate=1e-4\n"
        "  cockpit ctl RUN_DIR checkpoint --json\n"
        "  cockpit ctl RUN_DIR mute grad_spike   # hide one kind of alert (unmute shows it again)\n"
        "  cockpit ctl RUN_DIR stop          # end of this episode, checkpoint, summary",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", type=Path, help="the run's directory")
    p.add_argument(
        "action", choices=list(ACTIONS), help="what to do; set takes dqn.KEY=VALUE, mute and unmute an alert kind"
    )
    p.add_argument(
        "assignment",
        nargs="?",
        metavar="dqn.KEY=VALUE|KIND",
        help="for set: a live hyperparameter and its value; for mute/unmute: an alert kind",
    )
    p.add_argument(
        "--now", action="store_true", help="with stop: checkpoint at once (inexact) rather than at the episode's end"
    )
    p.add_argument("--json", action="store_true", help="print the run's reply as JSON")
    p.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the answer (an evaluation, or a checkpoint at the episode's end); default 300",
    )
    return p


def command_of(args: argparse.Namespace) -> Command | None:
    """The command to send (None for status); ConfigError for bad input."""
    if args.action == "set":
        if not args.assignment:
            raise ConfigError("ctl set: expected dqn.KEY=VALUE, e.g. dqn.learning_rate=1e-4")
        table, key, value = parse_override(args.assignment)
        if table != "dqn" or key not in LIVE_KEYS:
            raise ConfigError(
                f"ctl set {args.assignment}: {table}.{key} is not live-adjustable; expected dqn.KEY with "
                f"KEY one of {', '.join(LIVE_KEYS)}"
            )
        return Command(CommandKind.SET, key, value, source="ctl")
    if args.action in ("mute", "unmute"):
        if args.assignment not in ALERT_KINDS:
            raise ConfigError(
                f"ctl {args.action} {args.assignment or ''}: expected an alert kind, one of {', '.join(ALERT_KINDS)}"
            )
        return Command(CommandKind(args.action), args.assignment, source="ctl")
    if args.assignment:
        raise ConfigError(
            f"ctl {args.action}: unexpected argument {args.assignment!r} (only set, mute and unmute take one)"
        )
    if args.now and args.action != "stop":
        raise ConfigError("--now: only with stop")
    if args.action == "status":
        return None
    kind = ACTIONS[args.action]
    assert kind is not None  # status returned above
    return Command(kind, value="now" if args.now else None, source="ctl")


def describe(action: str, reply: dict) -> str:
    if action == "status":
        status = RunStatus.from_dict(reply["status"])
        return f"{progress_line(status, status.elapsed_s or 0.0, None)} · {reply['viewers']} connected"
    text = reply_text(str(ACTIONS[action]), Reply.from_dict(reply)) or ""
    if action == "eval":
        text += "\nreturns " + " ".join(f"{r:g}" for r in reply["returns"])
    return text


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    command = command_of(args)
    if args.timeout <= 0:
        raise ConfigError(f"--timeout {args.timeout}: expected seconds > 0")
    if not (args.run_dir / "config.toml").is_file():
        raise ConfigError(f"{args.run_dir}: not a run directory (no config.toml)")
    if (
        command is not None and command.kind == CommandKind.SET
    ):  # a bad value is bad input (2), checked against the run's config
        validate_live_change(run_dir_config(args.run_dir), str(command.key), command.value)
    from cockpit.remote.client import Busy, Connection, ConnectionLost
    from cockpit.remote.protocol import ProtocolError
    from cockpit.remote.runs import probe

    found = probe(args.run_dir)
    if found.state == RunState.DAMAGED:
        raise ConfigError(found.reason)
    if not found.listening:
        print(f"cockpit: {args.run_dir}: {found.reason}", file=sys.stderr)
        return EXIT_NOT_LISTENING
    try:
        assert found.socket is not None  # a listening run's
        connection = Connection(found.socket)
    except Busy as e:  # alive, and will answer once a viewer leaves
        print(f"cockpit: {args.run_dir}: {e}", file=sys.stderr)
        return EXIT_REFUSED
    except ConnectionLost as e:
        print(f"cockpit: {args.run_dir}: cannot connect ({e})", file=sys.stderr)
        return EXIT_NOT_LISTENING
    try:
        if command is not None and command.kind == CommandKind.CHECKPOINT:
            status = RunStatus.from_dict(connection.request("status")[1].result(args.timeout)["status"])
            if status.state == RunState.PAUSED:
                # Taken at the end of the episode, which a paused run does not reach: do not wait for it.
                connection.request("cmd", command.to_dict())
                print(
                    json.dumps({"ok": True, "queued": True, "step": status.step})
                    if args.json
                    else "checkpoint requested: the run is paused; it is taken at the end of this episode once it resumes"
                )
                return 0
        _, future = connection.request("status") if command is None else connection.request("cmd", command.to_dict())
        answer = future.result(args.timeout)
    except ConnectionLost as e:
        print(f"cockpit: {args.run_dir}: the run went away before answering ({e})", file=sys.stderr)
        return EXIT_NOT_LISTENING
    except ProtocolError as e:
        print(f"cockpit: error: {e}", file=sys.stderr)
        return 2
    except TimeoutError:
        print(
            f"cockpit: {args.action}: no answer within {args.timeout:g} s (the run may still act on it)",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    finally:
        connection.close()
    if args.json:
        print(json.dumps(answer))
    if not answer.get("ok"):
        print(f"cockpit: {args.action} refused: {answer.get('error')}", file=sys.stderr)
        return EXIT_REFUSED
    if not args.json:
        print(describe(args.action, answer))
    return 0
