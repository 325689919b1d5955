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
import time
from pathlib import Path

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
    from cockpit.engine.envs import make_env
    from cockpit.engine.trainer import Trainer

    config = load_preset(args.preset, ["run.total_steps=1"])
    torch.set_num_threads(config.run.threads)
    flush_denormals()  # as the trainer's thread runs its updates
    trainer = Trainer(config)
    agent, sampler, dqn, obs_dim = trainer.agent, trainer.sampler, config.dqn, trainer.info.obs_dim
    rng = np.random.default_rng(0)
    env = make_env(config.env)
    env.reset(seed=0)
    obs = env.observation_space.sample()
    for _ in range(dqn.buffer_size):
        trainer.buffer.add(obs, obs, int(rng.integers(2)), 1.0, False)

    def env_step():
        _, _, terminated, truncated, _ = env.step(int(rng.integers(2)))
        if terminated or truncated:
            env.reset()

    def update():
        agent.update(sampler.rows(dqn.batch_size), obs_dim, dqn)

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

    update_s = statistics.median(_once(update) for _ in range(50))

    def busy():
        end = time.perf_counter() + update_s
        while time.perf_counter() < end:
            pass

    before = {
        "another env step": env_step, "an update": update,
        f"8 products {dqn.batch_size}×{width} by {width}×{width}": matmuls,
        "an Adam step": agent.optimizer.step, "40 tiny torch ops": tiny_ops,
        f"a {source.nbytes // 1000} KB copy": lambda: np.copyto(target, source),
        f"a {update_s * 1e6:.0f} µs busy-wait": busy,
    }
    samples = {name: [] for name in before}
    spent = {name: [] for name in before}
    for _ in range(args.rounds):
        for name, fn in before.items():
            spent[name].append(_once(fn))
            samples[name].append(_once(env_step))
    print(f"an env step ({agent.compute_path}), medians over {args.rounds} interleaved rounds, right after:")
    pad = max(map(len, before))
    for name in before:
        print(f"  {name:{pad}s} {statistics.median(samples[name]) * 1e6:6.1f} µs   (that took "
              f"{statistics.median(spent[name]) * 1e6:6.1f} µs)")
    return 0


def _once(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
