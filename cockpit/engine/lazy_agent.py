"""The networks and optimizer of a run, built on first use.

A new run's warm-up steps are random and need no network, so the agent is built when the first
update is due (while a background thread has been importing torch), or earlier when something asks
for it (a resume, a command). It draws its initial weights from its own generator, so when it is
built does not change them. The loop's thread flushes denormals to zero from then on (a per-thread
setting, put back when the run ends).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from cockpit.engine import seeding, torch_side
from cockpit.engine.config import Config, DQNConfig

if TYPE_CHECKING:
    from cockpit.engine.agent import DQNAgent


class LazyAgent:
    def __init__(self, config: Config, obs_shape: int | tuple[int, ...], n_actions: int):
        """`obs_shape`: a vector's length, or an image's shape (what `DQNAgent` builds its network for)."""
        self.config, self.obs_shape, self.n_actions = config, obs_shape, n_actions
        self.built: DQNAgent | None = None
        self._lock = threading.Lock()
        self._flushing: tuple[int, bool] | None = None  # (the loop's thread, whether it flushed before)

    def build(self, dqn: DQNConfig) -> tuple[DQNAgent, bool]:
        """The agent, built now if it is not yet (waiting for torch's import); whether this call built it."""
        with self._lock:
            if self.built is not None:
                return self.built, False
            torch_side.load()
            import torch

            from cockpit.engine.agent import DQNAgent

            run = self.config.run
            torch.set_num_threads(run.threads)
            seeding.seed_torch(run.seed)
            self.built = DQNAgent(self.obs_shape, self.n_actions, dqn, run.device, run.seed, compute=run.compute)
            return self.built, True

    def enter_loop_thread(self) -> None:
        """From the end of the warm-up, the loop's thread flushes denormals to zero (see
        `flush_denormals`), whichever thread built the agent."""
        if self._flushing is None or self._flushing[0] != threading.get_ident():
            from cockpit.engine.agent import flush_denormals

            self._flushing = (threading.get_ident(), flush_denormals())

    def leave_loop_thread(self) -> None:
        """Put the denormal mode back where this thread did not flush before the run."""
        if self._flushing == (threading.get_ident(), False):
            from cockpit.engine.agent import flush_denormals

            flush_denormals(False)
