"""Adam state for the fast update, stepped by torch's fused Adam kernel (or its functional `adam`).

Why not `torch.optim.Adam` itself: constructing any torch Optimizer imports torch._dynamo (and
sympy), memory and start-up time that a small MLP never uses. The arithmetic is torch's own
kernel; this class only keeps the state, in exactly Adam's `state_dict` layout, so checkpoints move
freely between the fast and the reference update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.optim.adam import adam

FusedAdamKernel = Callable[..., None]
"""`torch._fused_adam_`, looked up by the fast update's kernel table (see fast_update.TORCH_PRIVATE_APIS)."""


class FunctionalAdam:
    def __init__(self, params: list[torch.nn.Parameter], lr: float, fused_adam: FusedAdamKernel | None):
        """`fused_adam`: the fused kernel where the device has one; None steps through functional `adam`."""
        self.params: list[torch.Tensor] = list(params)
        self.fused_adam = fused_adam
        fused = fused_adam is not None
        self.param_groups: list[dict[str, Any]] = [
            {
                "lr": lr,
                "betas": (0.9, 0.999),
                "eps": 1e-8,
                "weight_decay": 0,
                "amsgrad": False,
                "maximize": False,
                "foreach": None,
                "capturable": False,
                "differentiable": False,
                "fused": fused or None,
                "decoupled_weight_decay": False,
                "params": list(range(len(self.params))),
            }
        ]
        # Adam creates its state at the first step; creating it up front gives the same values. On the
        # fused path every parameter's step is one shared tensor, incremented once per step.
        step_dtype = torch.float32 if fused else torch.get_default_dtype()
        device = self.params[0].device if fused else torch.device("cpu")

        def new_step() -> torch.Tensor:
            return torch.zeros((), dtype=step_dtype, device=device)

        self._step = new_step()
        self.state = {
            p: {
                "step": self._step if fused else new_step(),
                "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
            }
            for p in self.params
        }
        self._lists: tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]] | None = None

    def step(self) -> None:
        """One Adam step on the gradients in place (the parameters of the fast path record no graph)."""
        group = self.param_groups[0]
        if self._lists is None:  # built once: gradients and state are updated in place from then on
            states = [self.state[p] for p in self.params]
            grads = [p.grad for p in self.params if p.grad is not None]
            if len(grads) < len(self.params):
                raise RuntimeError("FunctionalAdam steps on gradients the update has set; a parameter has none")
            self._lists = (
                grads,
                [s["exp_avg"] for s in states],
                [s["exp_avg_sq"] for s in states],
                [s["step"] for s in states],
            )
        grads, exp_avgs, exp_avg_sqs, steps = self._lists
        beta1, beta2 = group["betas"]
        if self.fused_adam is not None:
            # What `adam(fused=True)` runs once it has grouped the tensors by device and dtype; ours
            # share one device and dtype, so the grouping is skipped.
            self._step.add_(1)
            self.fused_adam(
                self.params,
                grads,
                exp_avgs,
                exp_avg_sqs,
                [],
                steps,
                amsgrad=False,
                lr=group["lr"],
                beta1=beta1,
                beta2=beta2,
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )
            return
        with torch.no_grad():
            adam(
                self.params,
                grads,
                exp_avgs,
                exp_avg_sqs,
                [],
                steps,
                foreach=group["foreach"],
                capturable=False,
                differentiable=False,
                fused=group["fused"],
                amsgrad=False,
                beta1=beta1,
                beta2=beta2,
                lr=group["lr"],
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=False,
                decoupled_weight_decay=False,
            )

    def state_dict(self) -> dict[str, Any]:
        started = any(float(s["step"]) > 0 for s in self.state.values())
        return {
            "state": {i: {**self.state[p], "step": self.state[p]["step"].clone()} for i, p in enumerate(self.params)}
            if started
            else {},
            "param_groups": [dict(self.param_groups[0])],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        group = state_dict["param_groups"][0]
        self.param_groups[0]["lr"] = group["lr"]
        for i, p in enumerate(self.params):
            saved = state_dict["state"].get(i) or state_dict["state"].get(str(i))
            if saved is None:
                continue
            for key in ("exp_avg", "exp_avg_sq"):
                self.state[p][key].copy_(saved[key])
            self.state[p]["step"].copy_(saved["step"])
