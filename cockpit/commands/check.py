"""`cockpit check PRESET`: the debugging hierarchy as a checklist, run before training.

Exit status: 0 when nothing fails (warnings allowed), 1 when a check fails, 2 for bad input
(raised as ConfigError, which `cockpit.cli.main` prints on one line).
"""

from __future__ import annotations

import argparse
import json
import time

from cockpit.presets import add_override_flags, overrides_from, resolve_config

EXIT_FAILED = 1
MARKS = {"ok": "✓", "warn": "⚠", "fail": "✗"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cockpit check",
        description="Check a preset before training: reward signal, environment, learning basics, "
        "exploration, hyperparameters. Exit 0 when nothing fails, 1 when a check fails, 2 for bad input.",
        epilog="examples:\n"
        "  cockpit check presets/cartpole.toml\n"
        "  cockpit check presets/cartpole.toml --set env.id=mymodule:MyEnv-v0 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("preset", help="a TOML preset with [env], [dqn] and [run] tables")
    add_override_flags(p)
    p.add_argument("--seed", type=int, help="override run.seed")
    p.add_argument("--total-steps", type=int, help="override run.total_steps")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    overrides = overrides_from(args.set_file, args.set)
    config = resolve_config(args.preset, overrides, seed=args.seed, total_steps=args.total_steps)
    from cockpit.engine.checks import FAIL, as_dict, run_checks, summary

    started = time.perf_counter()
    results = run_checks(config)
    seconds = time.perf_counter() - started
    counts = summary(results)
    if args.json:
        print(
            json.dumps(
                {
                    "preset": args.preset,
                    "env": config.env.id,
                    "seed": config.run.seed,
                    "passed": counts[FAIL] == 0,
                    "counts": counts,
                    "seconds": round(seconds, 2),
                    "checks": [as_dict(r) for r in results],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        print(format_checklist(args.preset, config.env.id, config.run.seed, results, seconds))
    return EXIT_FAILED if counts[FAIL] else 0


def format_checklist(preset: str, env_id: str, seed: int, results: list, seconds: float) -> str:
    from cockpit.engine.checks import FAIL, OK, SECTIONS, WARN, summary

    width = max(len(r.name) for r in results)
    lines = [f"cockpit check {preset} · {env_id} · seed {seed}"]
    for number, section in enumerate(SECTIONS, 1):
        lines += ["", f"{number}. {section}"]
        if not any(r.section == section for r in results):
            lines.append("  – skipped: the environment did not run (above)")
        for r in (r for r in results if r.section == section):
            lines.append(f"  {MARKS[r.status]} {r.name:<{width}}  {r.figure}")
            if r.advice:
                lines.append(f"    {'':<{width}}  → {r.advice}")
    counts = summary(results)
    lines += [
        "",
        f"{counts[OK]} passed · {counts[WARN]} warning{'s' if counts[WARN] != 1 else ''} · {counts[FAIL]} failed · {seconds:.1f} s",
    ]
    return "\n".join(lines)
