"""The engine's promises: bitwise reproducibility, evaluation and pauses that never perturb training,
correct terminal vs truncation handling, the replay buffer, learning basics, live changes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import tiny_config

from cockpit.engine.agent import DQNAgent
from cockpit.engine.buffer import ReplayBuffer, ReplaySampler
from cockpit.engine.config import DQNConfig
from cockpit.engine.control import Command
from cockpit.engine.metrics import PUBLISH_EVERY, MetricsStore
from cockpit.engine.trainer import Trainer


def run(config, hook=None, **kwargs) -> Trainer:
    """Train to the end; `hook(trainer)` runs in every env step (commands sent from there arrive at
    the step's end boundary, which keeps the tests deterministic without sleeps)."""
    trainer = Trainer(config, **kwargs)
    if hook is not None:
        trainer.step_hook = lambda t, action, result: (hook(t), result)[1]
    summary = trainer.run()
    assert summary["status"] == "finished", summary
    return trainer


def assert_same_state(a: Trainer, b: Trainer, scheduled_evals_only: bool = False) -> None:
    for name in ("q", "target"):
        sa, sb = getattr(a.agent, name).state_dict(), getattr(b.agent, name).state_dict()
        for key in sa:
            assert torch.equal(sa[key], sb[key]), f"{name}.{key} differs"
    oa, ob = a.agent.optimizer.state_dict()["state"], b.agent.optimizer.state_dict()["state"]
    for index in oa:
        for key in oa[index]:
            assert torch.equal(oa[index][key], ob[index][key]), f"optimizer state {index}.{key} differs"
    assert np.array_equal(a.buffer.data, b.buffer.data)
    assert (a.buffer.pos, a.buffer.size) == (b.buffer.pos, b.buffer.size)
    for key in ("rollout/ep_return", "rollout/ep_length", "train/loss", "train/q_max", "train/grad_norm"):
        assert a.store.series[key].means == b.store.series[key].means, key
    evals_a, evals_b = a.store.evaluations, b.store.evaluations
    if scheduled_evals_only:
        evals_a, evals_b = [e for e in evals_a if e.scheduled], [e for e in evals_b if e.scheduled]
    assert [(e.step, e.returns) for e in evals_a] == [(e.step, e.returns) for e in evals_b]


def test_same_seed_gives_bit_identical_runs_and_another_seed_differs():
    config = tiny_config()
    a, b = run(config), run(config)
    assert a.updates > 400 and a.step // config.dqn.target_update >= 10
    assert_same_state(a, b)
    c = run(tiny_config(run={"seed": 8}))
    assert not torch.equal(a.agent.q.state_dict()["0.weight"], c.agent.q.state_dict()["0.weight"])
    assert a.store.series["rollout/ep_return"].means != c.store.series["rollout/ep_return"].means


def test_the_warm_up_runs_without_the_network_and_building_it_earlier_changes_nothing():
    """The warm-up's random steps do not build the agent (torch may still be loading); an agent built
    before the run (as a resume or a command during the warm-up does) gives the same run."""
    warm_up_only = run(tiny_config(run={"total_steps": 100, "eval_freq": 1000}))
    assert warm_up_only.agent_if_built is None and warm_up_only.episode > 0
    states = []
    store = MetricsStore()
    store.publish = lambda status=None, points=None, logged=False: status and states.append(status.state)
    run(tiny_config(), store=store)
    built = states.index("loading")  # while the network is built, then back to what the run was doing
    assert states[built - 1] == states[built + 1] == "running" and states.count("loading") == 1
    lazy = run(tiny_config())
    eager = Trainer(tiny_config())
    assert eager.agent is not None  # built before the first step
    assert eager.run()["status"] == "finished"
    assert_same_state(lazy, eager)


def test_building_the_network_is_not_training_time(monkeypatch):
    """A new run's network waits for torch's import after the warm-up: that wait counts in
    no chunk's steps/s nor in the summary's training steps/s (the peers leave out their imports and
    set-up too), and while it lasts the store shows no steps/s. Nothing sleeps: the test's clock
    jumps an hour while the network is built, an hour that training time must leave out."""
    hour = 3600.0
    jumped = [0.0]
    clock = time.perf_counter
    monkeypatch.setattr(time, "perf_counter", lambda: clock() + jumped[0])
    build = DQNAgent.__init__

    def slow_build(self, *args, **kwargs):
        jumped[0] += hour
        build(self, *args, **kwargs)

    monkeypatch.setattr(DQNAgent, "__init__", slow_build)
    store = MetricsStore()
    published = []
    store.publish = lambda status=None, points=None, logged=False: status and published.append(status)
    summary = Trainer(tiny_config(run={"eval_freq": 1000}), store=store).run()
    assert summary["status"] == "finished" and jumped == [hour] and summary["wall_time_s"] > hour
    assert summary["steps"] / summary["train_steps_per_s"] < hour  # the summary leaves the hour out
    chunk_rates = [status.steps_per_s for status in published if status.steps_per_s is not None]
    assert chunk_rates and min(chunk_rates) > PUBLISH_EVERY / hour  # and so does every chunk
    loading = next(status for status in published if status.state == "loading")
    assert loading.steps_per_s is None


def test_the_loop_thread_flushes_denormals_from_the_end_of_the_warm_up_and_puts_the_mode_back():
    """Stuck denormal Adam moments slow every update several-fold (see `flush_denormals`). The mode
    is per thread: the loop's own, from the end of the warm-up (even when a command built the network
    earlier, so that a resumed run changes mode at the same step) to the run's end."""
    denormal = torch.tensor(1e-39)
    seen = {}

    def probe(trainer):
        if trainer.step == 10:
            trainer.control.submit(Command("evaluate"))  # builds the network during the warm-up
        seen.setdefault(trainer.step >= trainer.dqn.warmup_steps, set()).add(float(denormal * 1.0) == 0.0)

    for in_thread in (True, False):
        seen.clear()
        trainer = Trainer(tiny_config())
        trainer.step_hook = lambda t, action, result: (probe(t), result)[1]
        if in_thread:
            thread = threading.Thread(target=trainer.run)
            thread.start()
            thread.join()
        else:
            trainer.run()
        assert trainer.store.evaluations[0].step <= 11 and seen == {False: {False}, True: {True}}, seen
        assert float(denormal * 1.0) != 0.0  # this thread's arithmetic is as it was


def test_a_tensorboard_writer_that_cannot_be_made_fails_the_run_cleanly(tmp_path):
    """The writer is made at the first flush (after torch loads), no longer at the start: its failure
    must still end the run as failed, with its files closed and its summary written."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "tb").write_text("not a directory")
    trainer = Trainer(tiny_config(), run_dir)
    summary = trainer.run()
    assert summary["status"] == "failed" and "tb" in summary["error"], summary
    assert trainer.log.metrics.closed and trainer.log.events.closed
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "failed"


def test_building_a_trainer_does_not_import_torch():
    """So that a front end shows a new run's first episodes while torch loads."""
    code = (
        "import sys; from tiny import tiny_config; from cockpit.engine.trainer import Trainer; "
        "Trainer(tiny_config()); print(sorted(m for m in ('torch', 'tensorboard') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
    )
    assert out.stdout.strip() == "[]", out.stderr


def test_the_run_covers_truncations_and_terminations():
    trainer = run(tiny_config())
    lengths = trainer.store.series["rollout/ep_length"].means
    assert 30 in lengths, "no episode hit the 30-step time limit"
    assert any(length < 30 for length in lengths), "no episode terminated"


def test_evaluations_and_pauses_do_not_perturb_training():
    config = tiny_config()
    plain = run(config)

    def meddle(trainer):
        if trainer.step in (0, 57, 150, 333):  # before warm-up ends, mid-episode, after warm-up
            trainer.control.evaluate()
        if trainer.step in (120, 401):
            trainer.control.pause()
            trainer.control.evaluate()
            trainer.control.resume()

    meddled = run(config, hook=meddle)
    on_demand = [e for e in meddled.store.evaluations if not e.scheduled]
    assert len(on_demand) == 6
    assert [e.kind for e in meddled.store.events].count("pause") == 2
    assert_same_state(plain, meddled, scheduled_evals_only=True)


def test_evaluating_the_same_weights_twice_gives_the_same_numbers():
    trainer = run(tiny_config())
    first, second = trainer.evaluate_now(), trainer.evaluate_now()
    assert first.returns == second.returns


def _agent(**dqn) -> DQNAgent:
    cfg = DQNConfig(**{"hidden_size": 16, "loss": "mse", "max_grad_norm": 0.0, **dqn})
    return DQNAgent(obs_shape=2, n_actions=2, cfg=cfg, device="cpu", seed=0), cfg


def _rows(obs, next_obs, action, reward, terminated) -> np.ndarray:
    return np.array([[*obs, *next_obs, action, reward, terminated]], dtype=np.float32)


@pytest.mark.parametrize("terminated", [0.0, 1.0])
def test_td_target_bootstraps_through_truncation_but_not_termination(terminated):
    agent, cfg = _agent(gamma=0.9)
    rows = _rows([0.1, 0.2], [0.3, -0.4], 1, 1.0, terminated)
    with torch.no_grad():
        q_taken = agent.q(torch.tensor([[0.1, 0.2]]))[0, 1].item()
        next_max = agent.target(torch.tensor([[0.3, -0.4]])).max().item()
    expected_target = 1.0 + (0.0 if terminated else 0.9 * next_max)
    loss = agent.update(rows, 2, cfg)[0]
    assert loss == pytest.approx((q_taken - expected_target) ** 2, rel=1e-5)


def test_trainer_stores_terminated_only_for_terminal_states(tmp_path):
    config = tiny_config(env={"max_episode_steps": 15}, run={"total_steps": 300})
    trainer = run(config, run_dir=tmp_path / "run")
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    episodes = [e for e in map(json.loads, lines) if e["kind"] == "episode"]
    assert any(e["terminated"] for e in episodes) and any(not e["terminated"] for e in episodes)
    d = trainer.info.obs_dim
    stored = trainer.buffer.data[: trainer.buffer.size, 2 * d + 2]
    assert int(stored.sum()) == sum(e["terminated"] for e in episodes)
    for e in episodes:  # the last transition of each episode carries its flag
        assert stored[e["step"] - 1] == float(e["terminated"])


def test_buffer_wraps_around_and_keeps_the_newest():
    buffer = ReplayBuffer(capacity=5, obs_dim=1)
    for i in range(7):
        buffer.add(np.array([i]), np.array([i + 1]), i % 2, float(i), i == 6)
    assert (buffer.size, buffer.pos) == (5, 2)
    assert sorted(buffer.data[:, 0].tolist()) == [2, 3, 4, 5, 6]
    batch = buffer.unpack(ReplaySampler(buffer, seed=0).rows(64))
    assert set(batch.obs[:, 0].tolist()) <= {2, 3, 4, 5, 6}
    assert np.array_equal(batch.next_obs[:, 0], batch.obs[:, 0] + 1)
    assert np.array_equal(batch.rewards, batch.obs[:, 0])
    assert np.array_equal(batch.terminated, (batch.obs[:, 0] == 6).astype(np.float32))
    assert batch.actions.dtype == np.int64


def filled_buffer(size: int, capacity: int = 1000) -> ReplayBuffer:
    buffer = ReplayBuffer(capacity, obs_dim=1)
    for i in range(size):
        buffer.add(np.array([i]), np.array([i]), 0, 0.0, False)
    return buffer


@pytest.mark.parametrize("size", [1, 2, 3, 512, 999, 1000])
def test_sampler_draws_uniformly_from_the_filled_part_only(size):
    sampler = ReplaySampler(filled_buffer(size), seed=0)
    drawn = np.concatenate([sampler.rows(64)[:, 0] for _ in range(400)]).astype(int)  # 25,600 draws, over a refill
    assert drawn.min() >= 0 and drawn.max() < size
    counts = np.bincount(drawn, minlength=size)
    if size <= 3:
        assert (counts > 0.9 * len(drawn) / size).all(), counts
    else:  # every row drawable, none favoured: the largest count stays within chance of the mean
        mean = len(drawn) / size
        assert counts.max() < mean + 6 * np.sqrt(mean) + 1


def test_sampler_state_restores_mid_pool_and_continues_across_refills():
    buffer = filled_buffer(700)
    first = ReplaySampler(buffer, seed=3)
    for _ in range(100):
        first.rows(48)
    second = ReplaySampler(buffer, seed=99)
    second.load_state_dict(first.state_dict())
    for batch_size in [48] * 300 + [32] * 300:  # crosses refills of the pool, and a batch size change
        assert np.array_equal(first.rows(batch_size), second.rows(batch_size))


def test_network_memorizes_one_transition():
    agent, cfg = _agent(learning_rate=1e-3)
    rows = np.repeat(_rows([0.5, -0.5], [0.0, 0.0], 0, 3.0, 1.0), 32, axis=0)
    losses = [agent.update(rows, 2, cfg)[0] for _ in range(400)]
    assert losses[-1] < 1e-4, losses[-1]


def test_live_change_is_applied_recorded_and_replayed_bit_for_bit():
    config = tiny_config()
    replies = {}

    def change(trainer):
        if trainer.step == 250:
            replies["lr"] = trainer.control.set("learning_rate", 2e-3, source="test")
            replies["second"] = trainer.control.set("gamma", 0.95)
        if trainer.step == 400:
            replies["eps"] = trainer.control.set("epsilon_end", 0.2)

    live = run(config, hook=change)  # asked during step 250 and 400: applied at the next boundary
    assert replies["second"].result().ok is False and "pending" in replies["second"].result().error
    assert replies["lr"].result().to_dict() == {
        "ok": True,
        "step": 251,
        "key": "learning_rate",
        "old": 1e-3,
        "new": 2e-3,
        "number": 1,
        "rollback": None,
    }  # no run directory to roll back in
    assert live.progress.applied_changes == [
        {"step": 251, "key": "learning_rate", "value": 2e-3, "number": 1, "checkpoint": None},
        {"step": 401, "key": "epsilon_end", "value": 0.2, "number": 2, "checkpoint": None},
    ]
    assert live.agent.optimizer.param_groups[0]["lr"] == 2e-3
    events = [e for e in live.store.events if e.kind == "hparam"]
    assert [(e.step, e.get("key"), e.get("old"), e.get("new")) for e in events] == [
        (251, "learning_rate", 1e-3, 2e-3),
        (401, "epsilon_end", 0.01, 0.2),
    ]
    replayed = run(config, changes=live.progress.applied_changes)
    assert_same_state(live, replayed)
    assert not torch.equal(run(config).agent.q.state_dict()["0.weight"], live.agent.q.state_dict()["0.weight"])


def test_invalid_live_change_is_refused_and_changes_nothing():
    trainer = Trainer(tiny_config())
    for key, value in [
        ("learning_rate", -1.0),
        ("gamma", 1.5),
        ("batch_size", 10_000),
        ("hidden_size", 64),
        ("lr", 1e-3),
    ]:
        answer = trainer.control.set(key, value).result(timeout=1)
        assert answer.ok is False and key in answer.error
    assert trainer.control.pending_change is None
    assert "did you mean learning_rate" in trainer.control.set("learning_rat", 1e-3).result().error


def test_epsilon_change_starts_a_new_segment_without_a_jump():
    def change(trainer):
        if trainer.step == 150:
            trainer.control.set("epsilon_decay", 1000)

    trainer = run(tiny_config(), hook=change)
    schedule = trainer.epsilon
    before = schedule.segments[0].value(151)
    assert schedule.segments[1].start_step == 151
    assert schedule.segments[1].start_value == pytest.approx(before)
    assert schedule.value(151) == pytest.approx(before)
    assert schedule.value(1151) == pytest.approx(0.01)
