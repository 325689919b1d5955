"""What an update leaves of an env step's caches, piece by piece.

    .venv/bin/python bench/cache_eviction.py [--rounds 300]

Loop efficiency (bench/speed.py) compares the loop with its parts timed hot, each right after
itself. Inside the loop an env step follows an update instead. This times one env step of the
preset's env right after each of: another env step (hot), a whole update of the preset's network,
pieces of one alone (eight matrix products of its hidden layer's size, its Adam step, 40 tiny
torch ops that touch almost no memory, a copy of its weights, gradients and Adam moments), and a
busy-wait as long as an update, which runs none of it. Interleaved round by round; medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from speed import busy_wait, call_time, step_parts  # bench/, this script's folder, is first on sys.path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", type=Path, default=ROOT / "presets/cartpole.toml")
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()

    import numpy as np
    import torch

    from cockpit.engine.agent import flush_denormals
    from cockpit.engine.config import load_preset

    config = load_preset(args.preset, ["run.total_steps=1"])
    torch.set_num_threads(config.run.threads)
    flush_denormals()  # as the trainer's thread runs its updates
    trainer, parts = step_parts(config)
    env_step, update = parts["env_step"], parts["update"]
    agent, dqn = trainer.agent, config.dqn

    width = dqn.hidden_size
    h, w = torch.randn(dqn.batch_size, width), torch.randn(width, width)
    tiny = torch.ones(4)
    source = np.ones(4 * sum(p.numel() for p in agent.params), np.float32)  # weights, gradients, Adam's moments
    target = np.empty_like(source)

    def matmuls():
        with torch.inference_mode():
            for _ in range(8):
                torch.mm(h, w)

    def tiny_ops():
        with torch.inference_mode():
            for _ in range(10):
                tiny.add(1.0).mul(2.0).relu().sum()

    update_s = statistics.median(call_time(update) for _ in range(50))

    before = {
        "another env step": env_step,
        "an update": update,
        f"8 products {dqn.batch_size}×{width} by {width}×{width}": matmuls,
        "an Adam step": agent.optimizer.step,
        "40 tiny torch ops": tiny_ops,
        f"a {source.nbytes // 1000} KB copy": lambda: np.copyto(target, source),
        f"a {update_s * 1e6:.0f} µs busy-wait": lambda: busy_wait(update_s),
    }
    samples = {name: [] for name in before}
    spent = {name: [] for name in before}
    for _ in range(args.rounds):
        for name, fn in before.items():
            spent[name].append(call_time(fn))
            samples[name].append(call_time(env_step))
    print(f"an env step ({agent.compute_path}), medians over {args.rounds} interleaved rounds, right after:")
    pad = max(map(len, before))
    for name in before:
        print(
            f"  {name:{pad}s} {statistics.median(samples[name]) * 1e6:6.1f} µs   (that took "
            f"{statistics.median(spent[name]) * 1e6:6.1f} µs)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
