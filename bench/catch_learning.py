"""The learning check of issue 20 on catch, for several seeds at once: a CNN DQN trained for a short
run (tests/learning_check.py's settings) must reach a greedy return at least halfway from a random
policy's mean to the maximum, within two minutes of CPU per seed.

    .venv/bin/python bench/catch_learning.py [--seeds 3] [--first-seed 1] [--workers 2]

Each seed trains in its own process (one torch thread); prints one JSON line per seed (its final
greedy return, CPU seconds, whether it passed) and a last line with how many passed. The test suite
runs seed 1 alone (tests/test_atari_training.py).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
CPU_LIMIT_S = 120.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(TESTS))  # catch_env and the shared settings; spawned workers inherit the path
    import learning_check

    bar = learning_check.halfway()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    context = multiprocessing.get_context("spawn")  # a fresh interpreter each: no torch state shared
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=context) as pool:
        results = list(pool.map(learning_check.final_greedy_return, seeds))
    passed = 0
    for seed, (mean, cpu_s) in zip(seeds, results, strict=True):
        ok = mean >= bar and cpu_s <= CPU_LIMIT_S
        passed += ok
        print(
            json.dumps(
                {"seed": seed, "greedy_return": mean, "bar": round(bar, 3), "cpu_s": round(cpu_s, 1), "passed": ok}
            )
        )
    print(json.dumps({"passed": passed, "of": len(seeds), "steps": learning_check.LEARNING_STEPS}))
    return 0 if passed == len(seeds) else 1


if __name__ == "__main__":
    sys.exit(main())
