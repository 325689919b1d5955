"""Runs on disk and whether they listen: what `attach`, `ctl` and `ls` look at before connecting.

A listening run leaves `control.json` (the socket's path and its pid) in its directory; a run that
ended wrote `summary.json`; a run killed with SIGKILL leaves the pointer and a socket nobody answers
on (stale). A run with the cockpit on screen holds the directory's `.lock` but does not listen.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cockpit.engine.config import ConfigError
from cockpit.engine.contract import RunState
from cockpit.engine.history import check_metric, parse_lines, read_config_tables, read_metadata, read_summary
from cockpit.remote.server import POINTER

TAIL_BYTES = 256 * 1024
"""How much of the end of metrics.jsonl is read for a run's last step and evaluation."""


@dataclass
class Probe:
    run_dir: Path
    state: RunState  # finished, stopped, failed; running (listening or not); dead; damaged
    reason: str  # one line for a person
    socket: Path | None = None
    pid: int | None = None
    summary: dict | None = None
    listening: bool = False  # a live run's socket answers: ask it for its status


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def pid_alive(pid: int | None) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def answers(path: Path, timeout: float = 2.0) -> bool:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def lock_holder(run_dir: Path) -> int | None:
    """The pid written in the run directory's lock, when it was written on this host."""
    try:
        words = (run_dir / ".lock").read_text().split()
    except OSError:
        return None
    if len(words) >= 4 and words[0] == "pid" and words[3] == socket.gethostname() and words[1].isdigit():
        return int(words[1])
    return None


def probe(run_dir: Path) -> Probe:
    run_dir = Path(run_dir)
    try:
        summary, damage = read_summary(run_dir / "summary.json"), None
    except ConfigError as e:
        summary, damage = None, str(e)
    pointer = _read_json(run_dir / POINTER)
    if pointer and isinstance(pointer.get("socket"), str):
        path, pid = Path(pointer["socket"]), pointer.get("pid")
        if answers(path):
            return Probe(run_dir, RunState.RUNNING, f"listening on {path} (pid {pid})", path, pid, summary, True)
        if summary is None and damage is None:
            why = "is gone" if not pid_alive(pid) else "does not answer"
            return Probe(
                run_dir, RunState.DEAD, f"the run is dead: process {pid} {why}, its socket {path} is stale", path, pid
            )
    if damage is not None:
        return Probe(run_dir, RunState.DAMAGED, damage)
    if summary is not None:
        status = RunState(summary["status"])
        return Probe(
            run_dir, status, f"the run has ended: {status.value} at step {summary['steps']:,}", summary=summary
        )
    holder = lock_holder(run_dir)
    if pid_alive(holder):
        return Probe(
            run_dir,
            RunState.RUNNING,
            f"the run (pid {holder}) is not listening for control: it has the cockpit on "
            "screen, or an older cockpit runs it",
            pid=holder,
        )
    return Probe(run_dir, RunState.DEAD, "the run is dead: no summary and no process (killed, or never started)")


def log_tail(run_dir: Path) -> tuple[int | None, dict | None]:
    """The last step in metrics.jsonl and its last evaluation, from the file's end only; a damaged
    line there is refused (`ConfigError`), a half-written last one is a live run's and waits."""
    path = Path(run_dir) / "metrics.jsonl"
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - TAIL_BYTES))
            lines = f.read().split(b"\n")[1 if size > TAIL_BYTES else 0 : -1]
    except FileNotFoundError:
        return None, None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror}) (expected JSON lines)") from None
    where = path if size <= TAIL_BYTES else Path(f"{path} (its last {TAIL_BYTES // 1024} KiB)")
    records = parse_lines(where, lines)
    for number, record in enumerate(records, 1):
        check_metric(record, f"{where}:{number}")
    evaluations = [r for r in records if r["kind"] == "eval"]
    return (records[-1]["step"] if records else None), (evaluations[-1] if evaluations else None)


def damage(run_dir: Path) -> str | None:
    """What makes a run directory unreadable, in one line naming the file; None when it reads back.
    Only the end of its metrics is read, so that listing many long runs stays quick."""
    try:
        read_config_tables(run_dir)
        read_metadata(run_dir)
        read_summary(Path(run_dir) / "summary.json")
        log_tail(run_dir)
    except ConfigError as e:
        return str(e)
    return None


def total_steps(run_dir: Path) -> int | None:
    try:
        return read_config_tables(run_dir)["run"]["total_steps"]
    except (ConfigError, KeyError):
        return None


def find_runs(root: Path) -> list[Path]:
    """Run directories (holding config.toml) under `root`, or `root` itself when it is one."""
    root = Path(root)
    if (root / "config.toml").is_file():
        return [root]
    return sorted(p.parent for p in root.rglob("config.toml") if not p.parent.name.startswith("."))
