"""The fast backend of the DQN update: the MLP's backward pass derived by hand, no autograd graph.

For a small MLP an update is a few MFLOP, and autograd's per-op bookkeeping costs more than the
arithmetic. `FastUpdate` computes the reference update's loss, gradients, clipping and Adam step
(agent.py) with explicit tensor ops. Some of those ops are private torch APIs (`TORCH_PRIVATE_APIS`),
which another torch version may rename or change, so `start_fast_update` first runs one update on
copies of the networks beside the reference and hands back a reason instead where they disagree
or fail; the agent then uses the reference update. tests/test_fast_update.py checks the two agree
for every option the fast path claims; the path a run used is recorded in its metadata, and bitwise
reproducibility holds per path.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from cockpit.engine.config import DQNConfig
from cockpit.engine.functional_adam import FunctionalAdam, FusedAdamKernel

TORCH_PRIVATE_APIS = {
    "smooth_l1_loss": "_C._nn.smooth_l1_loss",
    "mse_loss": "_C._nn.mse_loss",
    "relu_backward": "ops.aten.threshold_backward.default",
    "fused_adam": "_fused_adam_",
}
"""What the fast path calls below torch's public API, as attribute paths under `torch`."""
NONE = 0  # torch's reduction enum: 0 none, 1 mean, 2 sum

TDLoss = Callable[[nn.Module, nn.Module, torch.Tensor, int, DQNConfig], tuple[torch.Tensor, torch.Tensor]]
"""The reference update's loss: (online net, target net, batch, obs_dim, config) → (loss, Q-values)."""


@dataclass(frozen=True)
class TorchKernels:
    smooth_l1_loss: Callable[..., torch.Tensor]
    """The kernel behind `F.smooth_l1_loss`, without the wrapper's broadcasting checks."""
    mse_loss: Callable[..., torch.Tensor]
    relu_backward: Callable[..., torch.Tensor]
    """ReLU's backward: torch's own kernel for it, one op where a mask takes two."""
    fused_adam: FusedAdamKernel

    @classmethod
    def resolve(cls) -> TorchKernels:
        """Raises AttributeError naming the API this torch lacks."""
        found: dict[str, Any] = {}
        for name, path in TORCH_PRIVATE_APIS.items():
            try:
                found[name] = functools.reduce(getattr, path.split("."), torch)
            except AttributeError:
                raise AttributeError(f"torch.{path} is missing") from None
        return cls(**found)


def _mean(total: float, n: int) -> float:
    """What torch's float32 `mean()` returns, from its float32 `sum()`: torch divides the sum by n in
    float32, and a quotient of two doubles rounded to float32 is that float32 quotient (double has
    more than twice float32's precision, so the double rounding is harmless). Bit for bit the same
    metric, without mean's second op and the tensor it wraps n in."""
    return float(np.float32(total / n))


def linear_layers(net: nn.Module) -> list[nn.Linear]:
    return [m for m in net.children() if isinstance(m, nn.Linear)]


def supports(net: nn.Module) -> bool:
    """The fast path knows Linear/ReLU stacks ending in a Linear, which is what `mlp_q_network` builds."""
    kinds = [type(m) for m in net.children()] if isinstance(net, nn.Sequential) else []
    expected = [nn.Linear, nn.ReLU] * (len(kinds) // 2) + [nn.Linear]
    return kinds == expected


def start_fast_update(
    q: nn.Module, target: nn.Module, cfg: DQNConfig, fused: bool, reference: TDLoss
) -> FastUpdate | str:
    """The fast update for these networks, or one line saying why it is not used: a private torch
    API is missing, fails, or gives another update than `reference` on copies of the networks."""
    try:
        kernels = TorchKernels.resolve()
        check_against_reference(kernels, q, target, cfg, fused, reference)
    except Exception as e:  # any failure means the same thing: this torch does not run the fast path
        return (
            f"the fast update does not work with torch {torch.__version__} ({type(e).__name__}: {e}); "
            "using the reference (autograd) update"
        )
    optimizer = FunctionalAdam(list(q.parameters()), cfg.learning_rate, kernels.fused_adam if fused else None)
    return FastUpdate(q, target, optimizer, kernels)


def check_against_reference(
    kernels: TorchKernels, q: nn.Module, target: nn.Module, cfg: DQNConfig, fused: bool, reference: TDLoss
) -> None:
    """One update of copies of the networks both ways, on a fixed synthetic batch; raises
    AssertionError where the metrics, gradients or weights differ. The reference's weights after
    Adam's first step are written out (with bias correction, m/√v is g/|g|), which keeps
    torch.optim.Adam (and the torch._dynamo it imports) out of a fast run."""
    layers = linear_layers(q)
    obs_dim, n_actions = layers[0].in_features, layers[-1].out_features
    device = layers[0].weight.device
    generator = torch.Generator().manual_seed(0)
    n = 8
    batch = torch.randn(n, 2 * obs_dim + 3, generator=generator)
    batch[:, 2 * obs_dim] = torch.arange(n) % n_actions
    batch[:, 2 * obs_dim + 2] = (torch.arange(n) % 3 == 0).float()
    batch = batch.to(device)

    slow, slow_target = copy.deepcopy(q), copy.deepcopy(target)
    loss, _ = reference(slow, slow_target, batch, obs_dim, cfg)
    loss.backward()
    params = list(slow.parameters())
    if cfg.max_grad_norm > 0:
        nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
    grads = [p.grad for p in params]
    lr, eps = cfg.learning_rate, 1e-8
    stepped = [p.detach() - lr * g / (g.abs() + eps) for p, g in zip(params, grads, strict=True) if g is not None]

    fast_q = copy.deepcopy(q)
    optimizer = FunctionalAdam(list(fast_q.parameters()), lr, kernels.fused_adam if fused else None)
    fast = FastUpdate(fast_q, copy.deepcopy(target), optimizer, kernels)
    metrics = fast.update(batch, obs_dim, cfg)

    def close(a: torch.Tensor, b: torch.Tensor | None, what: str) -> None:
        if b is None or not torch.allclose(a, b, rtol=1e-4, atol=1e-6):
            raise AssertionError(f"its {what} differ from the reference update's")

    close(torch.tensor(metrics[0]), loss.detach().cpu(), "loss")
    for mine, theirs in zip(fast.grads, grads, strict=True):
        close(mine, theirs, "gradients")
    for mine, theirs in zip(fast.params, stepped, strict=True):
        close(mine, theirs, "weights after an Adam step")


class FastUpdate:
    def __init__(self, q: nn.Module, target: nn.Module, optimizer: FunctionalAdam, kernels: TorchKernels):
        # Views made once stay valid: Adam and target syncs update the weights in place. The weights
        # need no autograd (this is the backward pass), so no op records a graph and no call needs
        # a no_grad context.
        q.requires_grad_(False)
        self.weights = [layer.weight for layer in linear_layers(q)]
        self.layers = [(layer.weight.t(), layer.bias) for layer in linear_layers(q)]
        self.target_layers = [(layer.weight.t(), layer.bias) for layer in linear_layers(target)]
        self.params = [p for layer in linear_layers(q) for p in (layer.weight, layer.bias)]
        # Every gradient is a view into one flat buffer: the global norm and clipping are one op each.
        self.flat_grad = torch.zeros(sum(p.numel() for p in self.params), device=self.params[0].device)
        self.grads: list[torch.Tensor] = []
        offset = 0
        for p in self.params:
            p.grad = self.flat_grad[offset : offset + p.numel()].view_as(p)
            self.grads.append(p.grad)
            offset += p.numel()
        self.on_cpu = self.flat_grad.device.type == "cpu"
        self.numpy_layers = (
            [(layer.weight.numpy(), layer.bias.numpy()) for layer in linear_layers(q)] if self.on_cpu else []
        )
        self.optimizer = optimizer
        self._smooth_l1_loss = kernels.smooth_l1_loss
        self._mse_loss = kernels.mse_loss
        self._relu_backward = kernels.relu_backward

    def greedy_action(self, obs: np.ndarray) -> int:
        """argmax_a Q(obs, a) for one observation. On the CPU in NumPy, over views of the same
        weights: a matrix-vector product is a few hundred flops, and NumPy's per-call cost is a
        fraction of torch's dispatch, all the more inside the loop, where every layer of dispatch
        code is cold again after the update."""
        if self.numpy_layers:
            h = np.asarray(obs, dtype=np.float32)
            for weight, bias in self.numpy_layers[:-1]:
                h = weight @ h
                h += bias
                np.maximum(h, 0.0, out=h)
            weight, bias = self.numpy_layers[-1]
            q = weight @ h
            q += bias
            return int(q.argmax())
        x = torch.as_tensor(obs, dtype=torch.float32, device=self.flat_grad.device)
        for weight_, (_, bias_) in zip(self.weights[:-1], self.layers, strict=False):
            x = torch.addmv(bias_, weight_, x).relu_()
        return int(torch.addmv(self.layers[-1][1], self.weights[-1], x).argmax())

    def update_rows(self, rows: np.ndarray, obs_dim: int, cfg: DQNConfig) -> list[float]:
        """`DQNAgent.update` on this path: one gradient step on packed replay rows (see ReplayBuffer)."""
        batch = torch.from_numpy(rows)
        if not self.on_cpu:
            batch = batch.to(self.flat_grad.device)
        with torch.inference_mode():
            return self._update(batch, obs_dim, cfg)

    def update(self, batch: torch.Tensor, obs_dim: int, cfg: DQNConfig) -> list[float]:
        # Inference mode: no op of the update needs autograd's dispatch layers (the weights record no
        # graph already); the kernels and the results are the same.
        with torch.inference_mode():
            return self._update(batch, obs_dim, cfg)

    @staticmethod
    def _forward(
        layers: Sequence[tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor, keep: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        h = x
        for weight_t, bias in layers[:-1]:
            h = torch.addmm(bias, h, weight_t).relu_()
            if keep is not None:
                keep.append(h)
        weight_t, bias = layers[-1]
        return torch.addmm(bias, h, weight_t)

    def _update(self, batch: torch.Tensor, obs_dim: int, cfg: DQNConfig) -> list[float]:
        # One split for the row's five fields (cheaper than five slices); the scalar fields stay
        # (batch, 1) columns throughout, so no squeeze or unsqueeze is needed either.
        obs, next_obs, actions, rewards, terminated = batch.split_with_sizes((obs_dim, obs_dim, 1, 1, 1), dim=1)
        actions = actions.long()

        next_q_target = self._forward(self.target_layers, next_obs)
        if cfg.double_dqn:
            next_actions = self._forward(self.layers, next_obs).argmax(dim=1, keepdim=True)
            next_value = next_q_target.gather(1, next_actions)
        else:
            next_value = next_q_target.amax(dim=1, keepdim=True)
        td_target = torch.addcmul(
            rewards, torch.rsub(terminated, 1.0), next_value, value=cfg.gamma
        )  # 1 - t, without Tensor.__rsub__'s Python wrapper

        activations = [obs]
        q_values = self._forward(self.layers, obs, keep=activations)
        q_taken = q_values.gather(1, actions)
        diff = q_taken - td_target
        n = diff.shape[0]
        # The loss is only reported (the backward below is explicit): torch's loss kernels called
        # directly, unreduced and summed; see _mean.
        if cfg.loss == "huber":  # d/dx of smooth L1 (beta 1) is clamp(x, -1, 1)
            loss_sum = self._smooth_l1_loss(q_taken, td_target, NONE, 1.0).sum()
            d_taken = diff.clamp_(-1.0, 1.0).mul_(1.0 / n)
        else:
            loss_sum = self._mse_loss(q_taken, td_target, NONE).sum()
            d_taken = diff.mul_(2.0 / n)

        # Backward: only the taken action's Q receives gradient.
        grad_out = torch.zeros_like(q_values).scatter_(1, actions, d_taken)
        for i in range(len(self.layers) - 1, -1, -1):
            torch.mm(grad_out.t(), activations[i], out=self.grads[2 * i])
            torch.sum(grad_out, dim=0, out=self.grads[2 * i + 1])
            if i:
                grad_out = self._relu_backward(torch.mm(grad_out, self.weights[i]), activations[i], 0)

        grad_norm = torch.linalg.vector_norm(self.flat_grad)
        norm = grad_norm.item()
        # As clip_grad_norm_: scale by max_norm / (norm + 1e-6), at most 1. Well below the bound the
        # factor is exactly 1 and the scaling is skipped (a NaN norm still takes it, as in torch).
        if cfg.max_grad_norm > 0 and not norm < 0.99 * cfg.max_grad_norm:
            self.flat_grad.mul_((cfg.max_grad_norm / (grad_norm + 1e-6)).clamp_(max=1.0))
        self.optimizer.step()

        q_max = q_values.amax(dim=1)
        # Item by item: a stack and tolist cost more.
        return [_mean(loss_sum.item(), n), _mean(q_max.sum().item(), n), q_max.max().item(), norm]
