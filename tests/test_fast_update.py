"""The fast path gives the autograd path's gradients and updates, for every option it claims."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch

from cockpit.engine.agent import DQNAgent
from cockpit.engine.config import DQNConfig
from cockpit.engine.fast_update import _mean


def rows(rng: np.random.Generator, n: int = 64, obs_dim: int = 4) -> np.ndarray:
    data = rng.standard_normal((n, 2 * obs_dim + 3)).astype(np.float32)
    data[:, 2 * obs_dim] = rng.integers(0, 3, n)
    data[:, 2 * obs_dim + 2] = rng.random(n) < 0.3
    return data


COMBOS = list(itertools.product(["huber", "mse"], [False, True], [0.0, 0.5, 10.0], [1, 2, 3]))


@pytest.mark.parametrize("loss, double_dqn, max_grad_norm, hidden_layers", COMBOS)
def test_fast_path_matches_autograd(loss, double_dqn, max_grad_norm, hidden_layers):
    cfg = DQNConfig(
        loss=loss,
        double_dqn=double_dqn,
        max_grad_norm=max_grad_norm,
        hidden_layers=hidden_layers,
        hidden_size=32,
        learning_rate=1e-3,
    )
    slow = DQNAgent(4, 3, cfg, "cpu", seed=3, compute="autograd")
    fast = DQNAgent(4, 3, cfg, "cpu", seed=3, compute="fast")
    assert slow.fast is None and fast.fast is not None and fast.compute_path.startswith("fast/")
    rng = np.random.default_rng(0)
    for step in range(5):
        batch = rows(rng)
        a, b = slow.update(batch, 4, cfg), fast.update(batch, 4, cfg)
        assert a == pytest.approx(b, rel=1e-4, abs=1e-6), f"metrics differ at update {step}"
        for p, q in zip(slow.params, fast.params, strict=False):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6)
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
        if step == 2:
            slow.sync_target()
            fast.sync_target()
        for obs in batch[:8, :4]:
            assert slow.act(obs) == fast.act(obs)


@pytest.mark.parametrize("n", [1, 7, 37, 50, 64, 100, 256])
def test_metric_means_from_float32_sums_are_torchs_means_bit_for_bit(n):
    """The fast path reports loss and mean Q from a float32 sum divided in Python (see _mean); a run's
    metrics must stay the ones torch's mean() gives, for any batch size, not merely close to them."""
    rng = np.random.default_rng(n)
    for scale in (1e-3, 1.0, 1e3, 1e6):
        for _ in range(200):
            x = torch.from_numpy((rng.standard_normal(n) * scale).astype(np.float32))
            assert _mean(x.sum().item(), n) == x.mean().item()


def test_fast_path_survives_an_optimizer_reload_and_a_learning_rate_change():
    cfg = DQNConfig(hidden_size=16)
    agent = DQNAgent(4, 3, cfg, "cpu", seed=1, compute="fast")
    rng = np.random.default_rng(1)
    agent.update(rows(rng), 4, cfg)
    state = copy.deepcopy(agent.state_dict())  # as a checkpoint would: no tensor shared with `agent`
    twin = DQNAgent(4, 3, cfg, "cpu", seed=1, compute="fast")
    twin.load_state_dict(state)
    for agent_ in (agent, twin):
        agent_.set_learning_rate(1e-2)
    batch = rows(rng)
    assert agent.update(batch, 4, cfg) == twin.update(batch, 4, cfg)
    for p, q in zip(agent.params, twin.params, strict=False):
        assert torch.equal(p, q)
    step = agent.optimizer.state[agent.params[0]]["step"]
    assert float(step) == 2.0


def test_fast_path_state_dict_has_adams_layout_and_checkpoints_move_between_paths():
    cfg = DQNConfig(hidden_size=16)
    rng = np.random.default_rng(2)
    slow = DQNAgent(4, 3, cfg, "cpu", seed=4, compute="autograd")
    fast = DQNAgent(4, 3, cfg, "cpu", seed=4, compute="fast")
    for _ in range(3):
        batch = rows(rng)
        slow.update(batch, 4, cfg)
        fast.update(batch, 4, cfg)
    a, b = slow.optimizer.state_dict(), fast.optimizer.state_dict()
    assert a["param_groups"][0].keys() == b["param_groups"][0].keys()
    assert a["state"].keys() == b["state"].keys()
    for i in a["state"]:
        assert a["state"][i].keys() == b["state"][i].keys()
        for key, value in a["state"][i].items():
            assert value.dtype == b["state"][i][key].dtype
            torch.testing.assert_close(value, b["state"][i][key], rtol=1e-4, atol=1e-6)
    moved = DQNAgent(4, 3, cfg, "cpu", seed=9, compute="fast")
    moved.load_state_dict(copy.deepcopy(slow.state_dict()))
    batch = rows(rng)
    assert moved.update(batch, 4, cfg) == pytest.approx(slow.update(batch, 4, cfg), rel=1e-4, abs=1e-6)


def test_the_fast_path_never_imports_torch_dynamo():
    import subprocess
    import sys

    code = (
        "import sys; from cockpit.engine.agent import DQNAgent; from cockpit.engine.config import DQNConfig; "
        "DQNAgent(4, 2, DQNConfig(), 'cpu', 0, compute='fast'); print('torch._dynamo' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_a_fast_checkpoint_steps_the_autograd_path_correctly(tmp_path):
    """The fast path's parameters share one Adam step counter; a saved checkpoint must not carry
    that sharing into torch's Adam, which would then count each step once per parameter."""
    cfg = DQNConfig(hidden_size=16)
    rng = np.random.default_rng(5)
    fast = DQNAgent(4, 3, cfg, "cpu", seed=4, compute="fast")
    for _ in range(3):
        fast.update(rows(rng), 4, cfg)
    torch.save(fast.state_dict(), tmp_path / "agent.pt")
    slow = DQNAgent(4, 3, cfg, "cpu", seed=9, compute="autograd")
    slow.load_state_dict(torch.load(tmp_path / "agent.pt", weights_only=True))
    for _ in range(2):
        batch = rows(rng)
        assert slow.update(batch, 4, cfg) == pytest.approx(fast.update(batch, 4, cfg), rel=1e-4, abs=1e-6)
    assert [float(slow.optimizer.state[p]["step"]) for p in slow.params] == [5.0] * len(slow.params)
    assert [float(fast.optimizer.state[p]["step"]) for p in fast.params] == [5.0] * len(fast.params)


@pytest.mark.parametrize("compute", ["fast", "autograd"])
def test_the_metadata_names_the_path_the_agent_takes(compute):
    """The run's metadata is written before the network exists (torch may still be loading), from the
    config; it must name the path the agent then takes."""
    from tiny import tiny_config

    from cockpit.engine.trainer import Trainer

    trainer = Trainer(tiny_config(run={"compute": compute}))
    assert trainer.metadata()["compute_path"] == trainer.agent.compute_path == f"{compute}/cpu/fused-adam"
