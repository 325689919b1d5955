"""The DQN agent: online and target Q-networks, Adam, greedy actions and the TD update.

The update written out here is the reference: autograd, as CleanRL writes it. Where the network is
an MLP and `run.compute = "fast"`, the agent runs the same update through the fast backend
(fast_update.py: the backward pass derived by hand, over private torch APIs), after checking once
that it agrees with this one; where it does not, the agent says why (`fallback`) and stays here.

Image networks learn from `FrameBatch`es (frame_buffer.py): the batch's uint8 frames become one
tensor, moved to the device once, and the observations and next observations are views of it; the
network converts them to floats itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cockpit.engine.config import DQNConfig
from cockpit.engine.fast_update import FastUpdate, start_fast_update, supports
from cockpit.engine.frame_buffer import FrameBatch
from cockpit.engine.networks import build_q_network, init_weights

ObsShape = int | tuple[int, ...]
"""A vector observation's length, or an observation's shape (EnvInfo.obs_shape)."""


def q_network(obs_shape: ObsShape, n_actions: int, cfg: DQNConfig) -> nn.Module:
    """The Q-network `dqn.network` names for this observation: an MLP for a vector (networks.py)."""
    return build_q_network((obs_shape,) if isinstance(obs_shape, int) else tuple(obs_shape), n_actions, cfg)


def greedy_policy(
    weights: dict[str, Any], obs_shape: ObsShape, n_actions: int, cfg: DQNConfig
) -> Callable[[np.ndarray], int]:
    """An action function for saved or snapshotted weights, outside any trainer (eval, renders).
    Raises KeyError/RuntimeError when the weights do not fit the config's network."""
    q = q_network(obs_shape, n_actions, cfg)
    q.load_state_dict(weights)

    def act(obs: np.ndarray) -> int:
        with torch.inference_mode():
            return int(q(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0)).argmax(dim=1).item())

    return act


def flush_denormals(on: bool = True) -> bool:
    """Flush denormal floats (below 1.2e-38) to zero in the calling thread's arithmetic, torch's and
    NumPy's alike. Adam's first moment of a weight whose gradient has become exactly zero (a dead
    ReLU unit) decays by 0.9 a step into the denormals and stays there (0.9 times the smallest
    denormal rounds back to it), and on x86 every operation on a denormal is many times slower:
    a long run collects many such moments. A stuck moment's Adam step is too small to move any
    weight, so flushing them leaves a run's results as they were (docs/benchmarks.md). Returns
    whether they were flushed already, for putting the mode back with `flush_denormals(False)`."""
    already = float(torch.tensor(1e-39) * 1.0) == 0.0
    torch.set_flush_denormal(on)
    return already


def fused_adam_available(device: torch.device) -> bool:
    return device.type in ("cpu", "cuda")


def td_loss(
    q: nn.Module, target: nn.Module, batch: torch.Tensor, obs_dim: int, cfg: DQNConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """The TD loss of a batch of packed replay rows (see ReplayBuffer), and the online Q-values."""
    d = obs_dim
    obs, next_obs = batch[:, :d], batch[:, d : 2 * d]
    actions = batch[:, 2 * d].long().unsqueeze(1)
    rewards, terminated = batch[:, 2 * d + 1], batch[:, 2 * d + 2]
    return transition_loss(q, target, obs, next_obs, actions, rewards, terminated, cfg)


def transition_loss(
    q: nn.Module,
    target: nn.Module,
    obs: torch.Tensor,
    next_obs: torch.Tensor,
    actions: torch.Tensor,
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    cfg: DQNConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The TD loss of a batch of transitions (`actions` of shape [B, 1]), and the online Q-values."""
    with torch.no_grad():
        next_q_values = target(next_obs)
        if cfg.double_dqn:  # the online network picks the action, the target network values it
            next_actions = q(next_obs).argmax(dim=1, keepdim=True)
            next_value = next_q_values.gather(1, next_actions).squeeze(1)
        else:
            next_value = next_q_values.max(dim=1).values
        # Bootstrap through time-limit truncations, not through terminal states: V(terminal) = 0.
        td_target = rewards + cfg.gamma * (1.0 - terminated) * next_value

    q_values = q(obs)
    q_taken = q_values.gather(1, actions).squeeze(1)
    if cfg.loss == "huber":
        loss = F.smooth_l1_loss(q_taken, td_target)
    else:
        loss = F.mse_loss(q_taken, td_target)
    return loss, q_values


class Optimizer(Protocol):
    """What the agent asks of its optimizer: torch's Adam, or the fast backend's FunctionalAdam."""

    param_groups: list[dict[str, Any]]

    def step(self) -> object: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...


class DQNAgent:
    act: Callable[[np.ndarray], int]
    """Greedy action for one observation: `reference_act`, or the fast backend's."""
    update: Callable[[Any, int, DQNConfig], list[float]]
    """One gradient step, returning UPDATE_METRICS: on packed replay rows (see ReplayBuffer) with
    `reference_update` or the fast backend's, or on a `FrameBatch` with `frame_update` (images)."""

    def __init__(
        self, obs_shape: ObsShape, n_actions: int, cfg: DQNConfig, device: str, seed: int, compute: str = "fast"
    ):
        self.device = torch.device(device)
        self.n_actions = n_actions
        self.image = not isinstance(obs_shape, int) and len(obs_shape) == 3
        self._obs_dtype = None if self.image else torch.float32  # images stay uint8 up to the network
        self._obs_channels = obs_shape[0] if not isinstance(obs_shape, int) else 0
        self._pinned: dict[str, torch.Tensor] = {}  # host staging of image batches for a GPU (`_on_device`)
        generator = torch.Generator().manual_seed(seed)
        q = q_network(obs_shape, n_actions, cfg)
        init_weights(q, generator)
        self.q = q.to(self.device)
        self.target = q_network(obs_shape, n_actions, cfg).to(self.device)
        self.target.load_state_dict(self.q.state_dict())
        self.target.requires_grad_(False)
        self.fused = fused_adam_available(self.device)
        self.params = list(self.q.parameters())

        self.fast: FastUpdate | None = None
        self.fallback: str | None = None
        """Why the fast update was asked for and is not used (one line), else None."""
        if compute == "fast" and supports(self.q):
            started = start_fast_update(self.q, self.target, cfg, self.fused, reference=td_loss)
            if isinstance(started, FastUpdate):
                self.fast = started
            else:
                self.fallback = started
        self.optimizer: Optimizer
        if self.fast is not None:
            self.optimizer = self.fast.optimizer
            self.act = self.fast.greedy_action
            self.update = self.fast.update_rows
        else:
            self.optimizer = torch.optim.Adam(self.params, lr=cfg.learning_rate, fused=self.fused or None)
            self.act = self.reference_act
            self.update = self.frame_update if self.image else self.reference_update

    @property
    def compute_path(self) -> str:
        """Recorded in the run's metadata: bitwise reproducibility holds per path."""
        update = "fast" if self.fast else "autograd"
        return f"{update}/{self.device.type}/{'fused' if self.fused else 'foreach'}-adam"

    def reference_act(self, obs: np.ndarray) -> int:
        with torch.inference_mode():
            x = torch.as_tensor(obs, dtype=self._obs_dtype, device=self.device).unsqueeze(0)
            return int(self.q(x).argmax(dim=1).item())

    def reference_update(self, rows: np.ndarray, obs_dim: int, cfg: DQNConfig) -> list[float]:
        batch = torch.from_numpy(rows)
        if self.device.type != "cpu":
            batch = batch.to(self.device)
        loss, q_values = td_loss(self.q, self.target, batch, obs_dim, cfg)
        return self._learn(loss, q_values, cfg)

    def frame_update(self, batch: FrameBatch, obs_dim: int, cfg: DQNConfig) -> list[float]:
        """One gradient step on a batch of image transitions; `obs_dim` is unused (the loop passes it
        to every update alike)."""
        frames = self._on_device("frames", batch.frames)
        scalars = self._on_device(
            "scalars", np.stack([batch.actions, batch.rewards, batch.terminated], dtype=np.float32)
        )
        shift = frames.shape[1] - self._obs_channels  # obs: the first frames, next_obs: the last
        obs, next_obs = frames[:, : self._obs_channels], frames[:, shift:]
        actions = scalars[0].long().unsqueeze(1)
        loss, q_values = transition_loss(self.q, self.target, obs, next_obs, actions, scalars[1], scalars[2], cfg)
        return self._learn(loss, q_values, cfg)

    def _on_device(self, name: str, array: np.ndarray) -> torch.Tensor:
        """A batch array as a tensor on the agent's device: on the CPU the array itself; for a GPU
        copied into pinned host memory kept for it, then moved in one asynchronous transfer (the
        update's metrics, read back at its end, wait for it before the staging is reused)."""
        tensor = torch.from_numpy(array)
        if self.device.type == "cpu":
            return tensor
        staging = self._pinned.get(name)
        if staging is None or staging.shape != tensor.shape:
            staging = self._pinned[name] = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
        staging.copy_(tensor)
        return staging.to(self.device, non_blocking=True)

    def _learn(self, loss: torch.Tensor, q_values: torch.Tensor, cfg: DQNConfig) -> list[float]:
        """Backward, clip, Adam's step; the update's metrics (UPDATE_METRICS)."""
        self.q.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.max_grad_norm > 0:
            grad_norm = nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
        else:
            grad_norm = nn.utils.get_total_norm([p.grad for p in self.params if p.grad is not None])
        self.optimizer.step()

        q_max = q_values.detach().max(dim=1).values
        return torch.stack([loss.detach(), q_max.mean(), q_max.max(), grad_norm]).tolist()

    def set_learning_rate(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def sync_target(self) -> None:
        with torch.no_grad():
            for target, online in zip(self.target.parameters(), self.params, strict=False):
                target.copy_(online)

    def state_dict(self) -> dict[str, Any]:
        return {"q": self.q.state_dict(), "target": self.target.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.q.load_state_dict(state["q"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
