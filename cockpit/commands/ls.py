"""`cockpit ls [DIR]`: the runs under a folder, their state, step and last evaluation, and whether
`cockpit attach` can steer them (a live headless run) or only show their history."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cockpit.engine.config import ConfigError
from cockpit.engine.contract import RunState, RunStatus

STATUS_TIMEOUT_S = 2.0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cockpit ls",
        description="List the runs under a folder (default runs/): state (running, paused, finished, stopped, "
        "failed, dead, damaged: the reason with --json), step, last evaluation, and whether one can attach to steer it.",
    )
    p.add_argument(
        "root", type=Path, nargs="?", default=Path("runs"), help="a folder of run directories (default runs/)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per run")
    return p


def describe_run(run_dir: Path) -> dict:
    from cockpit.remote.client import Busy, Connection, ConnectionLost
    from cockpit.remote.runs import damage, log_tail, probe, total_steps

    found = probe(run_dir)
    reason = damage(run_dir) if not found.listening else None
    if reason is not None:
        return {
            "run_dir": str(run_dir),
            "state": RunState.DAMAGED.value,
            "step": None,
            "total_steps": None,
            "last_eval": None,
            "attach": "-",
            "reason": reason,
        }
    row: dict[str, Any] = {
        "run_dir": str(run_dir),
        "state": found.state.value,
        "step": None,
        "total_steps": total_steps(run_dir),
        "last_eval": None,
        "attach": "history",
        "reason": found.reason,
    }
    if found.listening:
        try:
            assert found.socket is not None  # a listening run's
            connection = Connection(found.socket, timeout=STATUS_TIMEOUT_S)
            try:
                status = RunStatus.from_dict(connection.request("status")[1].result(STATUS_TIMEOUT_S)["status"])
            finally:
                connection.close()
        except Busy as e:  # alive, with every viewer slot taken
            row.update(state=RunState.BUSY.value, attach="busy", reason=str(e))
            return row
        except (ConnectionLost, TimeoutError) as e:
            row.update(state=RunState.UNKNOWN.value, reason=f"listening but not answering ({e})")
            return row
        last = status.last_eval
        row.update(
            state=status.state.value,
            step=status.step,
            total_steps=status.total_steps,
            attach="live",
            last_eval=last and {"step": last.step, "mean": last.mean, "std": last.std},
        )
        return row
    step, evaluation = log_tail(run_dir)
    if found.summary:
        step = found.summary.get("steps", step)
    row.update(step=step, last_eval=evaluation and {k: evaluation[k] for k in ("step", "mean", "std")})
    return row


def table(rows: list[dict]) -> str:
    def step(r: dict) -> str:
        done = "?" if r["step"] is None else f"{r['step']:,}"
        return done + ("" if r["total_steps"] is None else f"/{r['total_steps']:,}")

    def evaluation(r: dict) -> str:
        e = r["last_eval"]
        return "-" if not e else f"{e['mean']:.1f} ± {e['std']:.1f} @ {e['step']:,}"

    cells = [("RUN", "STATE", "STEP", "LAST EVAL", "ATTACH")]
    cells += [(r["run_dir"], r["state"], step(r), evaluation(r), r["attach"]) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in cells)


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if not args.root.is_dir():
        raise ConfigError(f"{args.root}: no such folder (expected a folder of run directories, e.g. runs/)")
    from cockpit.remote.runs import find_runs

    rows = [describe_run(run_dir) for run_dir in find_runs(args.root)]
    if args.json:
        for row in rows:
            print(json.dumps(row))
    elif rows:
        print(table(rows))
    else:
        print(f"no runs under {args.root}")
    return 0
