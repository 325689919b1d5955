"""`cockpit tune PRESET`: vary hyperparameters over seeds and say which setting is better, and how sure.

`--param KEY=V1,V2,...`: the one-factor sweep. Exactly one hyperparameter changes, every value
runs on the same seeds, everything else stays fixed, so a difference in score can only come
from that one change (or from seed luck, which the paired comparison measures).

`--search KEY=SPEC ... --trials N`: a multi-parameter Optuna search (cockpit/sweeps/search.py),
each trial scored over the same seeds, unpromising trials pruned; `--storage URL` shares one
study between machines.

Both write summary.json, summary.csv and the best setting as a ready-to-run preset (best.toml).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from cockpit.engine.config import Config, ConfigError
from cockpit.presets import add_override_flags, overrides_from, toml_value
from cockpit.sweeps import plan, report
from cockpit.sweeps.aggregate import Score
from cockpit.sweeps.group import Group
from cockpit.sweeps.launcher import Display, Launcher
from cockpit.sweeps.ranking import rank, ranking_text
from cockpit.sweeps.runs import is_run_dir, read_runs
from cockpit.sweeps.space import parse_param


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cockpit tune",
        description="One hyperparameter at a time over shared seeds, or an Optuna search.",
        epilog="examples:\n"
        "  cockpit tune presets/cartpole.toml --param dqn.learning_rate=1e-5,1e-4,1e-3 --seeds 3\n"
        "  cockpit tune presets/cartpole.toml --search dqn.learning_rate=log:1e-5:1e-2 \\\n"
        "      --search dqn.batch_size=32,64,128 --trials 30 --seeds 3\n"
        "  (add --storage postgresql+psycopg://user@host/db on several machines to share one study)\n"
        "\nsearch specs: LOW:HIGH (uniform), log:LOW:HIGH (log-uniform), A,B,C (choices);\n"
        "integer keys get integer ranges",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("preset", help="a TOML preset")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="TABLE.KEY=V1,V2,...",
        help="the one hyperparameter to vary and its values (exactly one)",
    )
    p.add_argument(
        "--search",
        action="append",
        default=[],
        metavar="TABLE.KEY=SPEC",
        help="a search dimension (repeatable): LOW:HIGH, log:LOW:HIGH or A,B,C",
    )
    p.add_argument("--seeds", type=int, default=3, help="seeds per setting (default 3)")
    p.add_argument("--first-seed", type=int, help="first seed (default: the preset's run.seed)")
    p.add_argument(
        "--score",
        choices=("last", "mean", "best"),
        default="last",
        help="a seed's score: the mean of its last K scheduled evaluations (last, the default), of all "
        "of them (mean: learning speed), or the best one (best: optimistic)",
    )
    p.add_argument("--last", type=int, default=5, metavar="K", help="K for --score last (default 5)")
    p.add_argument("--workers", type=int, default=plan.default_workers(), help="runs at a time (default: one per core)")
    add_override_flags(p)
    p.add_argument("--total-steps", type=int, metavar="N", help="steps per run (as --set run.total_steps=N)")
    p.add_argument(
        "--out",
        type=Path,
        help="the sweep directory (default runs/tune-<preset>-<time>); a search continues the study found there",
    )
    search = p.add_argument_group("search only")
    search.add_argument("--trials", type=int, default=20, help="trials in the study, all workers together (default 20)")
    search.add_argument(
        "--storage",
        help="Optuna storage URL, e.g. postgresql+psycopg://user@host/db "
        "(default: SQLite in the sweep directory, this process its only client)",
    )
    search.add_argument(
        "--study",
        help="study name (default: derived from the preset, the search and the seeds, "
        "so the same command joins the same study)",
    )
    search.add_argument(
        "--pruner",
        choices=("median", "none"),
        default="median",
        help="prune trials whose seed-mean evaluation falls below the median of earlier trials at "
        "the same step (default median)",
    )
    search.add_argument(
        "--heartbeat",
        type=int,
        default=60,
        metavar="S",
        help="seconds between a trial's heartbeats; a trial silent for 2×S is failed and retried",
    )
    search.add_argument("--sampler-seed", type=int, help="seed of the TPE sampler (default: random)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    args.set = overrides_from(args.set_file, args.set)  # the runs get the file's keys as --set flags
    if args.total_steps is not None:
        args.set.append(f"run.total_steps={args.total_steps}")
    plan.require("scipy", "matplotlib", *(("optuna",) if args.search else ()))
    if bool(args.param) == bool(args.search):
        raise ConfigError(
            "expected --param KEY=V1,V2,... (one-factor sweep) or --search KEY=SPEC (Optuna search), not "
            + ("both" if args.param else "neither")
        )
    for flag in ("--seeds", "--last", "--workers", "--trials", "--heartbeat"):
        plan.positive(flag, getattr(args, flag[2:]))
    args.score_rule = Score(args.score, args.last)
    base = plan.base_config(args.preset, args.set, workers=args.workers)
    seeds = plan.seed_list(base.run.seed if args.first_seed is None else args.first_seed, args.seeds)
    if args.search:
        from cockpit.sweeps.search import run_search
        from cockpit.sweeps.search_settings import SearchSettings

        settings = SearchSettings(
            preset=args.preset,
            overrides=tuple(args.set),
            search=tuple(args.search),
            score=args.score_rule,
            trials=args.trials,
            workers=args.workers,
            heartbeat=args.heartbeat,
            storage=args.storage,
            study=args.study,
            pruner=args.pruner,
            sampler_seed=args.sampler_seed,
            out=args.out,
        )
        return run_search(settings, base, seeds)
    return one_factor(args, base, seeds)


def one_factor(args: argparse.Namespace, base: Config, seeds: list[int]) -> int:
    param = parse_param(args.param, base)
    out = plan.sweep_dir(args.out, "tune", base)
    texts = [toml_value(v) for v in param.values]
    print(
        f"cockpit tune: {base.name}, {param.key} ∈ {{{', '.join(texts)}}} × seeds {seeds[0]}..{seeds[-1]}, "
        f"everything else fixed; {len(texts) * len(seeds)} runs, {args.workers} at a time → {out}",
        flush=True,
    )
    if len(seeds) < 3:
        print(report.ANECDOTAL, flush=True)
    jobs = []
    for text, setting in zip(texts, param.overrides(), strict=False):
        steps = int(text) if param.key == "run.total_steps" else base.run.total_steps
        jobs += plan.seed_jobs(
            args.preset, [*args.set, setting], seeds, out / plan.dir_name(setting), f"{text} ", steps, tag=text
        )
    interrupted = False
    try:
        Launcher(args.workers, Display(sys.stdout, f"tune {param.key}", len(jobs))).run(jobs)
    except KeyboardInterrupt:
        interrupted = True
    groups = [
        Group(text, read_runs([j.run_dir for j in jobs if j.tag == text and is_run_dir(j.run_dir)])) for text in texts
    ]
    ranked = rank([(g.label, seed_scores(g, seeds, args.score_rule)) for g in groups])
    write_report(out, args, base, param.key, seeds, groups, ranked)
    failed = [j for j in jobs if j.returncode not in (0, None)]
    return 130 if interrupted else (1 if failed else 0)


def seed_scores(group: Group, seeds: list[int], score: Score) -> list[float]:
    by_seed = dict(zip((r.seed for r in group.records), group.scores(score), strict=False))
    return [by_seed.get(seed, math.nan) for seed in seeds]


def write_report(out: Path, args, base: Config, key: str, seeds: list[int], groups: list[Group], ranked) -> None:
    by_label = {g.label: g for g in groups}
    target = next((g.target() for g in groups if g.target() is not None), None)
    title = f"{base.name} · {key} · mean ± stderr over {len(seeds)} seeds"
    series = [by_label[r.label].mean_series(f"{key}={r.label}") for r in ranked]
    for s in series:
        s.runs = []  # one band per value; the individual runs would hide the comparison
    if any(len(s.steps) for s in series):
        report.png_plot(out / "curves.png", series, title, target)
        print()
        print(report.terminal_plot(series, title, target, color=sys.stdout.isatty()))
    print()
    print(ranking_text(ranked, key, seeds, args.score_rule))
    if len(seeds) < 3:
        print(report.ANECDOTAL)
    best = ranked[0]
    comment = (
        f"best of `cockpit tune {base.name} --param {args.param[0]}` over seeds {seeds}: {key} = {best.label}, "
        f"score IQM {report.fmt(best.iqm)} {report.interval(best.low, best.high)}"
    )
    if math.isfinite(best.iqm):
        report.write_best(out / "best.toml", base, [f"{key}={best.label}"], comment)
    summary = {
        "kind": "tune",
        "preset": str(args.preset),
        "name": base.name,
        "overrides": args.set,
        "param": key,
        "seeds": seeds,
        "score": args.score_rule.describe(),
        "anecdotal": len(seeds) < 3,
        "ranking": [r.to_json() for r in ranked],
        "settings": {
            g.label: {"runs": g.rows(), "aggregate": g.aggregates(), "curves": g.curves_json()} for g in groups
        },
    }
    report.write_json(out / "summary.json", summary)
    rows = []
    for g in groups:
        scores = dict(zip((r.seed for r in g.records), g.scores(args.score_rule), strict=False))
        rows += [
            [
                g.label,
                r["seed"],
                scores.get(r["seed"]),
                r["final_eval"],
                r["best_eval"],
                r["first_step_reaching_target"],
                r["wall_time_s"],
                r["steps_per_s"],
                r["run_dir"],
                None,
                None,
                None,
                None,
                None,
            ]
            for r in g.rows()
        ]
    for r in ranked:
        d = r.diff or {}
        rows.append(
            [
                r.label,
                "IQM",
                r.iqm,
                None,
                None,
                None,
                None,
                None,
                None,
                r.low,
                r.high,
                d.get("difference"),
                d.get("low"),
                d.get("high"),
            ]
        )
    report.write_csv(
        out / "summary.csv",
        [
            key,
            "seed",
            "score",
            "final_eval",
            "best_eval",
            "first_step_reaching_target",
            "wall_time_s",
            "steps_per_s",
            "run_dir",
            "iqm_ci_low",
            "iqm_ci_high",
            "best_minus_this",
            "diff_ci_low",
            "diff_ci_high",
        ],
        rows,
    )
    done = f" · best preset: {out / 'best.toml'}" if (out / "best.toml").exists() else ""
    print(f"\nsummary: {out / 'summary.json'} · {out / 'summary.csv'}{done}")
