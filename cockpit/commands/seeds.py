"""`cockpit seeds PRESET -n 5`: one preset over several seeds, aggregated with confidence intervals.

One seed of DQN says little: the same hyperparameters can solve CartPole in 5,000 steps or not at
all depending on the seed. This runs N seeds headless (K at a time, one process each, one
progress display), then reports the evaluation curves as mean ± standard error and as the IQM
with a 95% stratified-bootstrap interval, per-seed figures, a terminal plot, a PNG and
summary.json / summary.csv / curves.csv in the sweep directory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cockpit.presets import add_override_flags, overrides_from
from cockpit.sweeps import plan, report
from cockpit.sweeps.group import PER_RUN, Group
from cockpit.sweeps.launcher import Display, Launcher
from cockpit.sweeps.runs import is_run_dir, read_runs


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cockpit seeds",
        description="Run a preset over several seeds and aggregate the evaluation curves.",
        epilog="example:\n  cockpit seeds presets/cartpole.toml -n 5 --workers 2 --set run.total_steps=20000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("preset", help="a TOML preset")
    p.add_argument("-n", "--seeds", type=int, default=5, help="number of seeds (default 5)")
    p.add_argument("--first-seed", type=int, help="first seed (default: the preset's run.seed); seeds are consecutive")
    p.add_argument("--workers", type=int, default=plan.default_workers(), help="runs at a time (default: one per core)")
    add_override_flags(p)
    p.add_argument("--total-steps", type=int, metavar="N", help="steps per run (as --set run.total_steps=N)")
    p.add_argument("--out", type=Path, help="the sweep directory (default runs/seeds-<preset>-<time>)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    args.set = overrides_from(args.set_file, args.set)  # the runs get the file's keys as --set flags
    if args.total_steps is not None:
        args.set.append(f"run.total_steps={args.total_steps}")
    plan.require("scipy", "matplotlib")
    n, workers = plan.positive("-n", args.seeds), plan.positive("--workers", args.workers)
    config = plan.base_config(args.preset, args.set, workers=min(workers, n))
    seeds = plan.seed_list(config.run.seed if args.first_seed is None else args.first_seed, n)
    out = plan.sweep_dir(args.out, "seeds", config)
    print(
        f"cockpit seeds: {config.name} ({config.env.id}) over seeds {seeds[0]}..{seeds[-1]}, "
        f"{min(workers, n)} at a time → {out}",
        flush=True,
    )
    if n < 3:
        print(report.ANECDOTAL, flush=True)
    jobs = plan.seed_jobs(args.preset, args.set, seeds, out, "", config.run.total_steps)
    interrupted = False
    try:
        Launcher(workers, Display(sys.stdout, f"seeds {config.name}", n)).run(jobs)
    except KeyboardInterrupt:
        interrupted = True
    group = Group(config.name, read_runs([j.run_dir for j in jobs if is_run_dir(j.run_dir)]))
    write_report(out, group, config, args, n)
    failed = [j for j in jobs if j.returncode not in (0, None)]
    return 130 if interrupted else (1 if failed or len(group.records) < n else 0)


def write_report(out: Path, group: Group, config, args: argparse.Namespace, n: int) -> None:
    rows = group.rows()
    aggregates = group.aggregates()
    target = group.target()
    summary = {
        "kind": "seeds",
        "preset": str(args.preset),
        "name": config.name,
        "env": config.env.id,
        "overrides": args.set,
        "seeds_requested": n,
        "seeds_run": len(rows),
        "anecdotal": len(rows) < 3,
        "target_return": target,
        "reached_target": group.reached_target(),
        "runs": rows,
        "aggregate": aggregates,
        "curves": group.curves_json(),
    }
    report.write_json(out / "summary.json", summary)
    headers = ["row", "seed", "run_dir", "status", *PER_RUN]
    csv_rows = [[f"seed {r['seed']}", r["seed"], r["run_dir"], r["status"], *(r[k] for k in PER_RUN)] for r in rows]
    for stat in ("mean", "stderr", "iqm", "iqm_ci_low", "iqm_ci_high"):
        csv_rows.append([stat, None, None, None, *(aggregates[k][stat] for k in PER_RUN)])
    report.write_csv(out / "summary.csv", headers, csv_rows)
    curves = group.curves
    if curves:
        keys = ["mean", "stderr", "iqm", "iqm_ci_low", "iqm_ci_high"]
        _, matrix = group.aligned
        seeds = [r.seed for r in group.with_evals]
        report.write_csv(
            out / "curves.csv",
            ["step", *keys, *(f"seed {s}" for s in seeds)],
            [[int(step), *(float(curves[k][i]) for k in keys), *matrix[:, i]] for i, step in enumerate(curves["step"])],
        )
        title = f"{config.name} · {config.env.id} · {len(group.with_evals)} seeds"
        report.png_plot(
            out / "curves.png", [group.mean_series("mean ± stderr"), group.iqm_series("IQM, 95% CI")], title, target
        )
        print()
        print(
            report.terminal_plot(
                [group.mean_series("mean")], title + " (mean ± stderr)", target, color=sys.stdout.isatty()
            )
        )
    print()
    print(table_text(rows, aggregates, target, group.reached_target()))
    if len(rows) < 3:
        print(report.ANECDOTAL)
    print(
        f"\nsummary: {out / 'summary.json'} · {out / 'summary.csv'}"
        + (f" · plot: {out / 'curves.png'}" if curves else "")
    )


def table_text(rows: list[dict], aggregates: dict, target: float | None, reached: int) -> str:
    f = report.fmt
    body = [
        [
            f"seed {r['seed']}",
            r["status"],
            f(r["final_eval"]),
            f(r["best_eval"]),
            f(r["first_step_reaching_target"], ","),
            f(r["wall_time_s"]),
            f(r["steps_per_s"], ",.0f"),
        ]
        for r in rows
    ]
    for stat, label in (("mean", "mean"), ("stderr", "± stderr"), ("iqm", "IQM")):
        body.append(
            [
                label,
                "",
                f(aggregates["final_eval"][stat]),
                f(aggregates["best_eval"][stat]),
                f(aggregates["first_step_reaching_target"][stat], ",.0f"),
                "",
                f(aggregates["steps_per_s"][stat], ",.0f"),
            ]
        )
    ci = [
        report.interval(aggregates[k]["iqm_ci_low"], aggregates[k]["iqm_ci_high"]) for k in ("final_eval", "best_eval")
    ]
    body.append(["IQM 95% CI", "", *ci, "", "", ""])
    target_text = "target" if target is None else f"first ≥ {target:g}"
    text = report.table(["", "status", "final eval", "best eval", target_text, "wall s", "steps/s"], body)
    return text + f"\n{reached}/{len(rows)} seeds reached the target" + ("" if target is None else f" ({target:g})")
