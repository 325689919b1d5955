"""The DQN agent: online and target MLPs, Adam, greedy action selection and the TD update."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cockpit.engine.config import DQNConfig
from cockpit.engine.fast_update import FastUpdate, supports
from cockpit.engine.functional_adam import FunctionalAdam


def q_network(obs_dim: int, n_actions: int, hidden_size: int, hidden_layers: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = obs_dim
    for _ in range(hidden_layers):
        layers += [nn.Linear(width, hidden_size), nn.ReLU()]
        width = hidden_size
    layers.append(nn.Linear(width, n_actions))
    return nn.Sequential(*layers)


def greedy_policy(weights: dict, obs_dim: int, n_actions: int, cfg: DQNConfig) -> Callable[[np.ndarray], int]:
    """An action function for saved or snapshotted weights, outside any trainer (eval, renders).
    Raises KeyError/RuntimeError when the weights do not fit the config's network."""
    q = q_network(obs_dim, n_actions, cfg.hidden_size, cfg.hidden_layers)
    q.load_state_dict(weights)

    def act(obs: np.ndarray) -> int:
        with torch.inference_mode():
            return int(q(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0)).argmax(dim=1).item())

    return act


def init_weights(net: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default Linear initialisation, drawn from the given generator instead of the global one,
    so that building a network elsewhere (a render, an evaluation) never shifts the trainer's stream."""
    with torch.no_grad():
        for layer in net.modules():
            if isinstance(layer, nn.Linear):
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)


def flush_denormals(on: bool = True) -> bool:
    """Flush denormal floats (below 1.2e-38) to zero in the calling thread's arithmetic, torch's and
    NumPy's alike. Adam's first moment of a weight whose gradient has become exactly zero (a dead
    ReLU unit) decays by 0.9 a step into the denormals and stays there (0.9 times the smallest
    denormal rounds back to it), and on x86 every operation on a denormal is many times slower: by
    30,000 CartPole steps a quarter of the moments were stuck so. Flushing them made training 18-34%
    faster, and the 50,000-step cartpole runs of seeds 1 and 2 came out bit for bit the same (a
    stuck moment's Adam step is too small to move any weight). Returns whether they were flushed
    already, for putting the mode back with `flush_denormals(False)`."""
    already = float(torch.tensor(1e-39) * 1.0) == 0.0
    torch.set_flush_denormal(on)
    return already


def fused_adam_available(device: torch.device) -> bool:
    return device.type in ("cpu", "cuda")


class DQNAgent:
    def __init__(self, obs_dim: int, n_actions: int, cfg: DQNConfig, device: str, seed: int, compute: str = "fast"):
        self.device = torch.device(device)
        self.n_actions = n_actions
        generator = torch.Generator().manual_seed(seed)
        q = q_network(obs_dim, n_actions, cfg.hidden_size, cfg.hidden_layers)
        init_weights(q, generator)
        self.q = q.to(self.device)
        self.target = q_network(obs_dim, n_actions, cfg.hidden_size, cfg.hidden_layers).to(self.device)
        self.target.load_state_dict(self.q.state_dict())
        self.target.requires_grad_(False)
        self.fused = fused_adam_available(self.device)
        self.params = list(self.q.parameters())
        if compute == "fast" and supports(self.q):
            self.optimizer = FunctionalAdam(self.params, cfg.learning_rate, fused=self.fused)
            self.fast: FastUpdate | None = FastUpdate(self.q, self.target, self.optimizer)
            self.act = self.fast.greedy_action  # one Python frame less per step
        else:
            self.optimizer = torch.optim.Adam(self.params, lr=cfg.learning_rate, fused=self.fused or None)
            self.fast = None

    @property
    def compute_path(self) -> str:
        """Recorded in the run's metadata: bitwise reproducibility holds per path."""
        update = "fast" if self.fast else "autograd"
        return f"{update}/{self.device.type}/{'fused' if self.fused else 'foreach'}-adam"

    def act(self, obs: np.ndarray) -> int:
        """Greedy action for one observation."""
        if self.fast is not None:
            return self.fast.greedy_action(obs)
        with torch.inference_mode():
            x = torch.as_tensor(obs, dtype=torch.float32, device=self.device).unsqueeze(0)
            return int(self.q(x).argmax(dim=1).item())

    def set_learning_rate(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def sync_target(self) -> None:
        with torch.no_grad():
            for target, online in zip(self.target.parameters(), self.params, strict=False):
                target.copy_(online)

    def update(self, rows: np.ndarray, obs_dim: int, cfg: DQNConfig) -> list[float]:
        """One gradient step on packed replay rows (see ReplayBuffer); returns UPDATE_METRICS."""
        batch = torch.from_numpy(rows)
        if self.device.type != "cpu":
            batch = batch.to(self.device)
        if self.fast is not None:
            return self.fast.update(batch, obs_dim, cfg)
        d = obs_dim
        obs, next_obs = batch[:, :d], batch[:, d : 2 * d]
        actions = batch[:, 2 * d].long().unsqueeze(1)
        rewards, terminated = batch[:, 2 * d + 1], batch[:, 2 * d + 2]

        with torch.no_grad():
            next_q_target = self.target(next_obs)
            if cfg.double_dqn:
                next_actions = self.q(next_obs).argmax(dim=1, keepdim=True)
                next_value = next_q_target.gather(1, next_actions).squeeze(1)
            else:
                next_value = next_q_target.max(dim=1).values
            # Bootstrap through time-limit truncations, not through terminal states: V(terminal) = 0.
            td_target = rewards + cfg.gamma * (1.0 - terminated) * next_value

        q_values = self.q(obs)
        q_taken = q_values.gather(1, actions).squeeze(1)
        if cfg.loss == "huber":
            loss = F.smooth_l1_loss(q_taken, td_target)
        else:
            loss = F.mse_loss(q_taken, td_target)

        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.max_grad_norm > 0:
            grad_norm = nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
        else:
            grad_norm = nn.utils.get_total_norm([p.grad for p in self.params])
        self.optimizer.step()

        q_max = q_values.detach().max(dim=1).values
        return torch.stack([loss.detach(), q_max.mean(), q_max.max(), grad_norm]).tolist()

    def state_dict(self) -> dict:
        return {"q": self.q.state_dict(), "target": self.target.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.q.load_state_dict(state["q"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
