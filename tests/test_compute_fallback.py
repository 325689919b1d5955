"""Where the fast update's private torch APIs are missing or behave differently (another torch version),
the agent says so in one line and trains with the reference update; a run records it and shows it."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from test_fast_update import rows
from tiny import tiny_config

from cockpit.engine import fast_update
from cockpit.engine.agent import DQNAgent
from cockpit.engine.config import DQNConfig
from cockpit.engine.contract import Event
from cockpit.engine.trainer import Trainer
from cockpit.text import event_line


@pytest.fixture
def missing_relu_backward(monkeypatch):
    """A torch whose aten namespace lacks the op the fast backward calls for ReLU."""
    monkeypatch.setitem(fast_update.TORCH_PRIVATE_APIS, "relu_backward", "ops.aten.no_such_op.default")


def with_kernel(monkeypatch, **kernels):
    """A torch whose private kernels exist but do other things."""
    resolve = fast_update.TorchKernels.resolve

    def changed() -> fast_update.TorchKernels:
        return dataclasses.replace(resolve(), **kernels)

    monkeypatch.setattr(fast_update.TorchKernels, "resolve", staticmethod(changed))


def test_the_fast_update_is_the_default_where_torch_has_its_apis():
    agent = DQNAgent(4, 2, DQNConfig(), "cpu", seed=0)
    assert agent.fast is not None and agent.fallback is None and agent.compute_path == "fast/cpu/fused-adam"


def test_a_missing_api_falls_back_to_the_reference_update_and_says_why(missing_relu_backward):
    cfg = DQNConfig(hidden_size=16)
    agent = DQNAgent(4, 3, cfg, "cpu", seed=1)
    assert agent.fast is None and agent.compute_path == "autograd/cpu/fused-adam"
    assert agent.fallback is not None and "\n" not in agent.fallback
    assert "torch.ops.aten.no_such_op.default is missing" in agent.fallback
    assert f"torch {torch.__version__}" in agent.fallback and "reference" in agent.fallback
    # It trains as an agent asked for the reference update does, bit for bit.
    reference = DQNAgent(4, 3, cfg, "cpu", seed=1, compute="autograd")
    rng = np.random.default_rng(0)
    for _ in range(3):
        batch = rows(rng)
        assert agent.update(batch, 4, cfg) == reference.update(batch, 4, cfg)
    for p, q in zip(agent.params, reference.params, strict=True):
        assert torch.equal(p, q)


def wrong_relu_backward(grad: torch.Tensor, activation: torch.Tensor, threshold: float) -> torch.Tensor:
    return grad  # the mask forgotten


def fused_adam_gone(*args, **kwargs) -> None:
    raise RuntimeError("_fused_adam_() got an unexpected keyword argument 'beta1'")


@pytest.mark.parametrize(
    "kernels, reason",
    [
        ({"relu_backward": wrong_relu_backward}, "its gradients differ from the reference update's"),
        ({"fused_adam": fused_adam_gone}, "RuntimeError: _fused_adam_() got an unexpected keyword argument"),
    ],
)
def test_a_kernel_that_behaves_differently_falls_back(monkeypatch, kernels, reason):
    with_kernel(monkeypatch, **kernels)
    agent = DQNAgent(4, 2, DQNConfig(hidden_size=16), "cpu", seed=2)
    assert agent.fast is None and agent.fallback is not None and reason in agent.fallback


def test_the_check_leaves_the_networks_and_the_global_generator_as_they_were():
    """It runs on copies and draws from a generator of its own: the agent's first update, and anything
    drawing from torch's global generator later, see what they would without it."""
    cfg = DQNConfig(hidden_size=16)
    torch.manual_seed(5)
    checked = DQNAgent(4, 2, cfg, "cpu", seed=3)
    after_checked = torch.rand(3)
    torch.manual_seed(5)
    unchecked = DQNAgent(4, 2, cfg, "cpu", seed=3, compute="autograd")
    assert torch.equal(after_checked, torch.rand(3))
    for p, q in zip(checked.params, unchecked.params, strict=True):
        assert torch.equal(p, q)
    assert float(checked.optimizer.state[checked.params[0]]["step"]) == 0.0


def test_an_image_network_takes_the_reference_update_without_a_warning():
    agent = DQNAgent((1, 16, 16), 3, DQNConfig(), "cpu", seed=0)
    assert agent.fast is None and agent.fallback is None and agent.compute_path.startswith("autograd/")


def test_a_run_falls_back_trains_and_says_so_once(tmp_path, missing_relu_backward):
    run_dir = tmp_path / "run"
    summary = Trainer(tiny_config(), run_dir).run()
    assert summary["status"] == "finished"
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    trained = [r for r in metrics if r["kind"] == "train" and r["updates"] > 0]
    assert trained and all(np.isfinite(r["loss"]["mean"]) for r in trained)
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    warnings = [e for e in events if e["kind"] == "warning"]
    assert len(warnings) == 1 and "torch.ops.aten.no_such_op.default is missing" in warnings[0]["message"]
    line = event_line(Event.from_dict(warnings[0]))
    assert line is not None and line.count("\n") == 0 and warnings[0]["message"] in line
    meta = json.loads((run_dir / "metadata.json").read_text())
    assert meta["compute_path"] == "autograd/cpu/fused-adam"
    assert meta["compute_fallback"] == warnings[0]["message"]


def test_a_run_on_the_fast_path_records_no_fallback(tmp_path):
    run_dir = tmp_path / "run"
    Trainer(tiny_config(), run_dir).run()
    meta = json.loads((run_dir / "metadata.json").read_text())
    assert meta["compute_path"] == "fast/cpu/fused-adam" and "compute_fallback" not in meta
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert not [e for e in events if e["kind"] == "warning"]
