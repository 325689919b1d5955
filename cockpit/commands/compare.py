"""`cockpit compare PATH ...`: overlay the evaluation curves of finished runs or sweeps, and show
which hyperparameters differ between them.

A PATH is a run directory (one curve) or any directory holding run directories (a `seeds` or
`tune` sweep): its runs are grouped by config (everything but the seed) and each group is drawn
as its mean over seeds. The differences table lists only the keys whose values differ, because
that is the question when two curves disagree: what else changed?
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cockpit.engine.config import ConfigError
from cockpit.sweeps import aggregate, plan, report
from cockpit.sweeps.group import Group
from cockpit.sweeps.runs import find_run_dirs, flatten, read_run

IGNORED = ("run.seed",)
"""Seeds differ by design between the runs of a group; they get their own column instead."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cockpit compare",
        description="Overlay the evaluation curves of finished runs or sweeps.",
        epilog="example:\n  cockpit compare runs/seeds-cartpole-2026... runs/CartPole-v1-cartpole-s1-... --png cmp.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="RUN_DIR", help="run directories or sweep directories")
    p.add_argument("--png", type=Path, metavar="FILE", help="also write the plot as a PNG here")
    p.add_argument(
        "--last", type=int, default=5, metavar="K", help="score: mean of the last K scheduled evaluations (default 5)"
    )
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    plan.require("scipy", *(("matplotlib",) if args.png else ()))
    if args.last < 1:
        raise ConfigError(f"--last {args.last}: expected an integer >= 1")
    groups, damaged = [], []
    for path in args.paths:
        found, left_out = groups_of(path)
        groups += found
        damaged += left_out
    if not groups:
        more = f" (and {len(damaged) - 1} more damaged runs)" if len(damaged) > 1 else ""
        raise ConfigError(damaged[0] + more)
    for reason in damaged:
        print(f"cockpit: left out a damaged run: {reason}", file=sys.stderr, flush=True)
    target = next((g.target() for g in groups if g.target() is not None), None)
    series = [g.mean_series(f"#{i} {g.label}") for i, g in enumerate(groups, 1)]
    for s in series:
        s.runs = []
    title = f"greedy evaluation, mean over seeds · {len(groups)} curves"
    print(report.terminal_plot(series, title, target, color=sys.stdout.isatty()))
    print()
    score = aggregate.Score("last", args.last)
    print(
        report.table(
            ["#", "curve", "runs", "seeds", "final eval", "best eval", f"last {args.last} evals, IQM"],
            [row(i, g, score) for i, g in enumerate(groups, 1)],
            left=2,
        )
    )
    print()
    print(differences_text(groups))
    if args.png:
        report.png_plot(args.png, series, title, target)
        print(f"\nplot: {args.png}")
    return 0


def groups_of(path: Path) -> tuple[list[Group], list[str]]:
    """One group per distinct config (seed aside) among the runs at or below `path` that read back
    whole, and why each of the others does not (one line each)."""
    if not path.exists():
        raise ConfigError(f"{path}: no such run or sweep directory")
    paths = find_run_dirs(path)
    if not paths:
        raise ConfigError(
            f"{path}: no run directories found (expected config.toml and metrics.jsonl in it or below it)"
        )
    runs, damaged = [], []
    for run_path in paths:
        try:
            run = read_run(run_path)
        except ConfigError as e:
            damaged.append(str(e))
            continue
        if run.damage:
            damaged.append(run.damage)
        else:
            runs.append(run)
    if not runs:
        return [], damaged
    by_config: dict[str, list] = {}
    for run in runs:
        key = json.dumps(
            {k: v for k, v in flatten(run.config).items() if k not in IGNORED}, sort_keys=True, default=str
        )
        by_config.setdefault(key, []).append(run)
    groups = []
    for records in by_config.values():
        label = str(path)
        if len(by_config) > 1:
            common = Path(
                *commonparts([r.path.relative_to(path).parts[:-1] if r.path != path else () for r in records])
            )
            label = str(path / common) if common.parts else f"{path} ({records[0].path.name}…)"
        groups.append(Group(label, sorted(records, key=lambda r: r.seed if r.seed is not None else -1)))
    return groups, damaged


def commonparts(parts: list[tuple]) -> tuple:
    common = parts[0]
    for p in parts[1:]:
        n = 0
        while n < min(len(common), len(p)) and common[n] == p[n]:
            n += 1
        common = common[:n]
    return common


def row(i: int, g: Group, score: aggregate.Score) -> list[str]:
    rows = g.rows()
    finals = [r["final_eval"] for r in rows if r["final_eval"] is not None]
    bests = [r["best_eval"] for r in rows if r["best_eval"] is not None]
    scores = [s for s in g.scores(score) if s == s]

    def mean(xs: list[float]) -> float | None:
        return sum(xs) / len(xs) if xs else None

    return [
        f"#{i}",
        g.label,
        str(len(rows)),
        ",".join(str(r["seed"]) for r in rows),
        report.fmt(mean(finals)),
        report.fmt(mean(bests)),
        report.fmt(float(aggregate.iqm(scores)) if scores else None),
    ]


def differences_text(groups: list[Group]) -> str:
    """Keys whose values differ between the curves (rows) × the curves (columns)."""
    configs = [flatten(g.records[0].config) for g in groups]
    keys = sorted({k for c in configs for k in c} - set(IGNORED))
    differing = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True, default=str) for c in configs}) > 1]
    if len(groups) < 2:
        return "one curve: nothing to compare its config with"
    if not differing:
        return "the configs are identical (seeds aside): the curves differ by seed luck alone"

    def show(v: object) -> str:
        return "-" if v is None else (json.dumps(v) if isinstance(v, (dict, list)) else str(v))

    rows = [[k, *(show(c.get(k)) for c in configs)] for k in differing]
    return "hyperparameters that differ:\n" + report.table(["key", *(f"#{i}" for i in range(1, len(groups) + 1))], rows)
