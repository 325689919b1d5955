"""Time one DQN update of the image networks on CPU, channels-last memory order against the default:
the target network's forward pass, the online forward and backward, and an Adam step, on a batch of
uint8 observations. Rounds alternate the order of the two; prints the median per round (ms).

    .venv/bin/python bench/cnn_update.py [--network nature_cnn|small_cnn] [--batch 32] [--rounds 6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from cockpit.engine.config import DQNConfig
from cockpit.engine.networks import build_q_network

SHAPES = {"nature_cnn": (4, 84, 84), "small_cnn": (1, 10, 10)}
N_ACTIONS = 6


def time_updates(network: str, channels_last: bool, batch: int, updates: int) -> float:
    """Median seconds of one update, after three to warm up."""
    shape, cfg = SHAPES[network], DQNConfig(network=network)
    q = build_q_network(shape, N_ACTIONS, cfg, channels_last=channels_last)
    target = build_q_network(shape, N_ACTIONS, cfg, channels_last=channels_last)
    target.load_state_dict(q.state_dict())
    optimizer = torch.optim.Adam(q.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    obs = torch.randint(0, 256, (batch, *shape), dtype=torch.uint8, generator=generator)
    next_obs = torch.randint(0, 256, (batch, *shape), dtype=torch.uint8, generator=generator)
    actions = torch.randint(0, N_ACTIONS, (batch, 1), generator=generator)
    rewards, terminated = torch.randn(batch, generator=generator), torch.zeros(batch)
    times = []
    for _ in range(updates + 3):
        began = time.perf_counter()
        with torch.no_grad():
            td_target = rewards + 0.99 * (1.0 - terminated) * target(next_obs).max(dim=1).values
        loss = F.mse_loss(q(obs).gather(1, actions).squeeze(1), td_target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - began)
    return statistics.median(times[3:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", choices=sorted(SHAPES), default="nature_cnn")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    medians: dict[str, list[float]] = {"default": [], "channels_last": []}
    for round_ in range(args.rounds):
        for channels_last in (False, True) if round_ % 2 == 0 else (True, False):
            seconds = time_updates(args.network, channels_last, args.batch, args.updates)
            medians["channels_last" if channels_last else "default"].append(round(seconds * 1000, 2))
    ratio = statistics.median(medians["channels_last"]) / statistics.median(medians["default"])
    print(
        json.dumps(
            {
                "network": args.network,
                "batch": args.batch,
                "threads": args.threads,
                "ms": medians,
                "channels_last_over_default": round(ratio, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
