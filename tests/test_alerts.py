"""Live health alerts: each fires with the step, figure and threshold, once per episode of trouble;
NaN stops a headless run keeping the last good checkpoint, and pauses a watched one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cockpit.engine import checkpoints
from cockpit.engine.alerts import Health, HealthMonitor
from cockpit.engine.config import AlertsConfig
from cockpit.engine.trainer import Trainer
from tiny import tiny_config


def health(step=5_000, updates=None, **fields) -> Health:
    base = dict(step=step, warmup_steps=1_000, epsilon=0.05, epsilon_end=0.05, epsilon_end_step=10_000,
                action_counts=np.array([500, 500]), entropy=0.69, updates=updates, q_bound=99.3,
                recent_return=None, target_return=475.0)
    return Health(**{**base, **fields})


def rows(loss=1.0, q=10.0, grad=2.0, n=100) -> np.ndarray:
    return np.tile([loss, q, q, grad], (n, 1)).astype(float)


def names(alerts) -> list[str]:
    return [a["name"] for a in alerts]


def test_gradient_and_loss_spikes_fire_once_per_episode_of_trouble():
    monitor = HealthMonitor(AlertsConfig())
    for _ in range(10):
        assert monitor.check(health(updates=rows())) == []
    spike = monitor.check(health(updates=rows(loss=500.0, grad=50.0), step=6_000))
    assert names(spike) == ["grad_spike", "loss_spike"]
    assert "gradient norm 50 at step 6,000 > 10× its running median 2" in spike[0]["message"]
    assert "Look at" in spike[0]["message"]
    assert monitor.check(health(updates=rows(loss=500.0, grad=50.0))) == []  # still in trouble: no flood
    assert monitor.check(health(updates=rows())) == []  # cleared
    assert names(monitor.check(health(updates=rows(grad=500.0)))) == ["grad_spike"]  # fires again


def test_q_above_its_bound_and_q_near_zero():
    monitor = HealthMonitor(AlertsConfig())
    over = monitor.check(health(updates=rows(q=140.0)))
    assert names(over) == ["q_over_bound"] and "mean Q 140 at step 5,000 beyond its bound ±1×" in over[0]["message"]
    assert "99.3" in over[0]["message"]
    near_zero = HealthMonitor(AlertsConfig()).check(health(step=7_000, updates=rows(q=0.01)))
    assert names(near_zero) == ["q_near_zero"] and "not learning" in near_zero[0]["message"]
    assert HealthMonitor(AlertsConfig()).check(health(step=3_000, updates=rows(q=0.01))) == []  # too early
    below = HealthMonitor(AlertsConfig()).check(health(updates=rows(q=-140.0)))  # diverging downward
    assert names(below) == ["q_over_bound"] and "mean Q -140 at step 5,000" in below[0]["message"]
    sparse = HealthMonitor(AlertsConfig()).check(health(updates=rows(q=0.04), q_bound=0.0))  # no reward seen yet
    assert sparse == []


def test_exploration_collapse_and_low_entropy():
    alerts = HealthMonitor(AlertsConfig()).check(
        health(epsilon=0.8, action_counts=np.array([990, 10]), entropy=0.056, epsilon_end_step=20_000))
    assert names(alerts) == ["action_collapse", "low_entropy"]
    assert "action 0 took 99% of recent steps at step 5,000 while ε = 0.80 (threshold 95%)" in alerts[0]["message"]


def test_flat_return_long_after_epsilon_ended_but_not_once_solved():
    cfg = AlertsConfig(flat_after_steps=10_000)
    monitor = HealthMonitor(cfg)
    fired = []
    for step in range(10_000, 40_001, 1_000):
        fired += monitor.check(health(step=step, recent_return=120.0))
    assert names(fired) == ["flat_return"]
    assert "training return flat at 120.0" in fired[0]["message"]
    solved = HealthMonitor(cfg)
    assert all(solved.check(health(step=s, recent_return=500.0)) == [] for s in range(10_000, 40_001, 1_000))


DIVERGING = {"dqn": {"warmup_steps": 300}, "run": {"total_steps": 2_000, "eval_freq": 100}}
POISON_STEP = 600


def poison_rewards(trainer, action, result):
    """NaN rewards from POISON_STEP on: the TD targets, then the weights, become non-finite."""
    obs, reward, terminated, truncated, info = result
    return obs, (float("nan") if trainer.step >= POISON_STEP else reward), terminated, truncated, info


def diverging_trainer(run_dir, **kwargs) -> Trainer:
    trainer = Trainer(tiny_config(**DIVERGING), run_dir, **kwargs)
    trainer.step_hook = poison_rewards
    return trainer


def test_nan_stops_a_headless_run_keeping_the_last_good_checkpoint(tmp_path):
    trainer = diverging_trainer(tmp_path / "run")
    summary = trainer.run()
    assert summary["status"] == "failed" and "non-finite" in summary["error"]
    assert "last good checkpoint" in summary["error"]
    alerts = [e for e in trainer.store.events if e["kind"] == "alert"]
    assert [a["name"] for a in alerts] == ["non_finite"], "one alert per episode of trouble, however it was found"
    alert = alerts[0]
    assert alert["fatal"]
    good = checkpoints.find(tmp_path / "run")
    tensors, meta = checkpoints.load(good)
    assert meta["step"] < alert["step"]
    assert all(np.isfinite(t.numpy()).all() for t in tensors["q"].values())
    records = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert records and json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "failed"


def test_nan_pauses_a_watched_run_with_the_diagnosis(tmp_path):
    trainer = diverging_trainer(tmp_path / "run", on_non_finite="pause")
    diverge = trainer._diverge

    def diverge_then_stop(message):  # a person would read the diagnosis, then stop
        diverge(message)
        assert trainer.paused and trainer.state == "paused"
        trainer.control.stop("test")

    trainer._diverge = diverge_then_stop
    summary = trainer.run()
    pause = next(e for e in trainer.store.events if e["kind"] == "pause")
    assert pause["source"] == "alert" and "non-finite" in pause["message"]
    assert summary["status"] == "stopped"
    assert any(e["kind"] == "checkpoint_skipped" for e in trainer.store.events)


@pytest.mark.parametrize("value", ["pause", "stop"])
def test_the_preset_can_choose_what_nan_does(value):
    assert Trainer(tiny_config(alerts={"on_non_finite": value})).on_non_finite == value
