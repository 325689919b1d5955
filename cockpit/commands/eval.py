"""`cockpit eval PATH`: greedy episodes of a saved policy, on seeds of their own, so that an
evaluation never perturbs the run it came from."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cockpit.engine.config import ConfigError

EVAL_EPISODES_MAX = 100_000
"""Every return is kept and printed: beyond this, `--episodes` is a typo, not a wish."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cockpit eval", description="Greedy evaluation of a saved policy.")
    p.add_argument("path", type=Path, help="a checkpoint directory, or a run directory (its best policy)")
    p.add_argument("--episodes", type=int, help="episodes to run (default: the run's eval_episodes)")
    p.add_argument("--seed", type=int, help="derive the evaluation seeds from this (default: the run's seed)")
    p.add_argument("--gif", type=Path, help="record the first episode as a GIF here")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.episodes is not None and not 0 < args.episodes <= EVAL_EPISODES_MAX:
        raise ConfigError(f"--episodes {args.episodes}: expected an integer in [1, {EVAL_EPISODES_MAX:,}]")
    if args.seed is not None and not 0 <= args.seed < 2**63:
        raise ConfigError(f"--seed {args.seed}: expected an integer in [0, 2**63)")
    from cockpit.engine.evaluation import evaluate_checkpoint

    result = evaluate_checkpoint(args.path, args.episodes, args.seed, args.gif)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['checkpoint']} (step {result['step']:,}), {len(result['returns'])} greedy episodes, seed {result['seed']}"
        )
        print(f"mean {result['mean']:.2f} ± {result['std']:.2f}")
        print("returns " + " ".join(f"{r:g}" for r in result["returns"]))
        if result["gif"]:
            print(f"gif {result['gif']}")
    return 0
