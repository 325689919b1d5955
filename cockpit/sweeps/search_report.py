"""What a search leaves behind: the ranking of its best trials with intervals and paired
differences, summary.json / summary.csv of every trial, and the best setting as best.toml."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from cockpit.engine.config import Config
from cockpit.sweeps import report
from cockpit.sweeps.ranking import rank, ranking_text
from cockpit.sweeps.search_settings import SearchSettings
from cockpit.sweeps.space import Dimension, short

TOP = 10


def write_report(
    study, settings: SearchSettings, base: Config, dims: list[Dimension], seeds: list[int], out: Path, storage: str
) -> None:
    """`storage` is the study's URL as it may be shown (no password)."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state.name.lower() for t in trials)
    complete = sorted(
        (t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and "seed_scores" in t.user_attrs),
        key=lambda t: -t.value,
    )
    print(
        f"\nstudy {study.study_name}: {len(trials)} trials ("
        + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
        + ")"
    )
    keys = [d.key for d in dims]
    ranked = rank([(f"trial {t.number}", t.user_attrs["seed_scores"]) for t in complete[:TOP]]) if complete else []
    if ranked:
        by_label = {f"trial {t.number}": t for t in complete}
        print(ranking_text(ranked, "trial", seeds, settings.score))
        print()
        print(
            report.table(
                ["trial", *keys], [[r.label, *(short(by_label[r.label].params.get(k)) for k in keys)] for r in ranked]
            )
        )
        if len(seeds) < 3:
            print(report.ANECDOTAL)
        best = by_label[ranked[0].label]
        comment = (
            f"best of study {study.study_name} ({len(complete)} complete trials, seeds {seeds}): {ranked[0].label}, "
            f"score IQM {report.fmt(ranked[0].iqm)} {report.interval(ranked[0].low, ranked[0].high)}\n"
            + " ".join(best.user_attrs["overrides"])
        )
        report.write_best(out / "best.toml", base, best.user_attrs["overrides"], comment)
        print(f"\nbest preset: {out / 'best.toml'} (run it: cockpit {out / 'best.toml'})")
    else:
        print("no trial has completed yet: no ranking and no best preset")
    summary = {
        "kind": "search",
        "study": study.study_name,
        "storage": storage,
        "preset": str(settings.preset),
        "name": base.name,
        "overrides": list(settings.overrides),
        "search": [d.describe() for d in dims],
        "seeds": seeds,
        "score": settings.score.describe(),
        "trials_wanted": settings.trials,
        "states": dict(states),
        "anecdotal": len(seeds) < 3,
        "ranking": [r.to_json() for r in ranked],
        "trials": [trial_json(t) for t in trials],
    }
    report.write_json(out / "summary.json", summary)
    rows = [
        [
            t.number,
            t.state.name,
            t.value,
            *(t.params.get(k) for k in keys),
            *(t.user_attrs.get("seed_scores") or [None] * len(seeds)),
            t.user_attrs.get("worker"),
            t.user_attrs.get("error"),
        ]
        for t in trials
    ]
    report.write_csv(
        out / "summary.csv", ["trial", "state", "score", *keys, *(f"seed {s}" for s in seeds), "worker", "error"], rows
    )
    print(f"summary: {out / 'summary.json'} · {out / 'summary.csv'}")


def trial_json(t) -> dict:
    return {
        "number": t.number,
        "state": t.state.name,
        "value": t.value if t.value is not None and math.isfinite(t.value) else None,
        "params": t.params,
        "seed_scores": t.user_attrs.get("seed_scores"),
        "worker": t.user_attrs.get("worker"),
        "directory": t.user_attrs.get("directory"),
        "error": t.user_attrs.get("error"),
        "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
    }
