"""The Stable-Baselines3 side of the Atari comparison: SB3's DQN with its `AtariWrapper` and
`CnnPolicy` at presets/pong.toml's values, one thread, printing training steps/s and peak RSS.

SB3 lives in its own virtual environment, outside the project:

    .venv/bin/python bench/atari_sb3.py setup            # builds $PEERS/sb3-atari (default /tmp/cockpit-peers)
    .venv/bin/python bench/atari_sb3.py run --steps 6000 --warmup 2000
    .venv/bin/python bench/atari_sb3.py run --buffer 100000 --warmup 100000 --steps 101000 [--optimize-memory]

`run` re-executes itself with that environment's Python. Speed: a short run with a shortened
warm-up times the training loop (steps/s counted after the warm-up). Memory: SB3's buffer arrays
are touched as they fill, so peak RSS at N transitions needs N steps stored (a warm-up of N
random steps fills it fastest). `--optimize-memory` is SB3's `optimize_memory_usage` (one stack per
transition instead of two; CleanRL's setting). Prints one JSON line; compare it with cockpit's run
of the same preset, interleaved, as ratios.

Differences from the preset that SB3 does not let go: its loss is Huber (the preset's is MSE) and it
clips the gradient norm at 10 (the preset does not clip).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

PEERS = Path(os.environ.get("PEERS", "/tmp/cockpit-peers"))
VENV = PEERS / "sb3-atari"
PACKAGES = [
    "stable-baselines3==2.9.2",
    "gymnasium==1.4.0",
    "ale-py==0.12.1",
    "opencv-python-headless==5.1.0.95",
]
TORCH = "torch==2.13.0"
"""Pinned first, alone: the CPU build on these machines' disk (an unpinned torch pulls CUDA's)."""

# presets/pong.toml (CleanRL's dqn_atari.py values)
LEARNING_RATE, BATCH, GAMMA, TARGET_UPDATE, TRAIN_FREQ = 1e-4, 32, 0.99, 1_000, 4
EPSILON_END, EPSILON_FRACTION = 0.01, 0.1


def setup() -> None:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, TORCH], check=True)
    subprocess.run([*pip, *PACKAGES], check=True)
    print(f"SB3 with Atari ready in {VENV}")


def train(args: argparse.Namespace) -> dict:
    import ale_py
    import gymnasium as gym
    import torch
    from stable_baselines3 import DQN
    from stable_baselines3.common.atari_wrappers import AtariWrapper
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack

    gym.register_envs(ale_py)
    torch.set_num_threads(args.threads)

    def make() -> gym.Env:
        return AtariWrapper(gym.make(args.game, frameskip=1, repeat_action_probability=0.0))

    env = VecFrameStack(DummyVecEnv([make]), 4)

    class Clock(BaseCallback):
        """Starts the clock when the warm-up ends: steps/s counts training steps only."""

        def __init__(self) -> None:
            super().__init__()
            self.start: float | None = None
            self.start_step = 0

        def _on_step(self) -> bool:
            if self.start is None and self.num_timesteps >= args.warmup:
                self.start, self.start_step = time.perf_counter(), self.num_timesteps
            return True

    model = DQN(
        "CnnPolicy",
        env,
        learning_rate=LEARNING_RATE,
        buffer_size=args.buffer,
        learning_starts=args.warmup,
        batch_size=BATCH,
        gamma=GAMMA,
        target_update_interval=TARGET_UPDATE,
        train_freq=TRAIN_FREQ,
        gradient_steps=1,
        exploration_initial_eps=1.0,
        exploration_final_eps=EPSILON_END,
        exploration_fraction=EPSILON_FRACTION,
        optimize_memory_usage=args.optimize_memory,
        replay_buffer_kwargs={"handle_timeout_termination": False} if args.optimize_memory else None,
        seed=args.seed,
        device="cpu",
        verbose=0,
    )
    clock = Clock()
    began = time.perf_counter()
    model.learn(total_timesteps=args.steps, callback=clock)
    ended = time.perf_counter()
    trained = args.steps - clock.start_step
    return {
        "peer": "sb3",
        "game": args.game,
        "seed": args.seed,
        "threads": args.threads,
        "buffer": args.buffer,
        "optimize_memory_usage": args.optimize_memory,
        "steps": args.steps,
        "warmup": args.warmup,
        "wall_s": round(ended - began, 1),
        "train_steps_per_s": round(trained / (ended - clock.start), 1) if clock.start and trained else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "versions": {"torch": torch.__version__, "ale_py": ale_py.__version__},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help=f"build {VENV}")
    run = sub.add_parser("run", help="train and print one JSON line")
    run.add_argument("--game", default="ALE/Pong-v5")
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--threads", type=int, default=1)
    run.add_argument("--steps", type=int, default=6_000, help="agent steps in all, warm-up included")
    run.add_argument("--warmup", type=int, default=2_000, help="random steps before the first update")
    run.add_argument("--buffer", type=int, default=100_000, help="replay capacity in transitions")
    run.add_argument("--optimize-memory", action="store_true", help="SB3's optimize_memory_usage")
    args = parser.parse_args()
    if args.command == "setup":
        setup()
        return
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() != VENV.resolve():
        if not python.exists():
            sys.exit(f"atari_sb3.py: {VENV} does not exist (expected it built first: atari_sb3.py setup)")
        os.execv(str(python), [str(python), __file__, *sys.argv[1:]])
    print(json.dumps(train(args)))


if __name__ == "__main__":
    main()
