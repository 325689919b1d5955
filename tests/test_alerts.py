"""Live health alerts: each fires with the step, figure and threshold, once per episode of trouble;
NaN stops a headless run keeping the last good checkpoint, and pauses a watched one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny import tiny_config

from cockpit.engine import checkpoints
from cockpit.engine.alerts import Health, HealthMonitor
from cockpit.engine.config import AlertsConfig
from cockpit.engine.trainer import Trainer


def health(step=5_000, updates=None, **fields) -> Health:
    base = dict(
        step=step,
        total_steps=50_000,
        warmup_steps=1_000,
        epsilon=0.05,
        epsilon_end=0.05,
        epsilon_end_step=10_000,
        action_counts=np.array([500, 500]),
        entropy=0.69,
        updates=updates,
        q_range=(0.0, 100.0),
        rewards=np.ones(100),
        weights_changed=True,
        evaluation=None,
        recent_return=None,
        target_return=475.0,
        evaluations_on=True,
        last_change=None,
    )
    return Health(**{**base, **fields})


def rows(loss=1.0, q=10.0, grad=2.0, n=100, q_max=None) -> np.ndarray:
    return np.tile([loss, q, q if q_max is None else q_max, grad], (n, 1)).astype(float)


def names(alerts) -> list[str]:
    return [a["name"] for a in alerts]


def test_spikes_are_judged_against_a_robust_scale_and_need_to_persist():
    monitor = HealthMonitor(AlertsConfig(), budget_steps=1)
    noise = np.random.default_rng(0)
    for i in range(200):  # heavy-tailed but healthy: the loss of MSE without clipping
        loss, grad = noise.lognormal(0.0, 1.0), noise.lognormal(1.0, 0.8)
        assert monitor.check(health(step=1_000 + 100 * i, updates=rows(loss=loss, grad=grad))) == []
    assert monitor.check(health(step=21_000, updates=rows(loss=1e15, grad=5e3))) == []  # one interval: not yet
    assert monitor.check(health(step=21_100, updates=rows())) == []  # and gone: nothing said
    for step in (21_200, 21_300):
        assert monitor.check(health(step=step, updates=rows(loss=1e15, grad=5e3))) == []
    spike = monitor.check(health(step=21_400, updates=rows(loss=1e15, grad=5e3)))
    assert names(spike) == ["loss_spike", "grad_spike"]
    assert (
        "loss 1e+15 at step 21,400:" in spike[0]["message"]
        and "robust scales (MADs) above its recent median" in spike[0]["message"]
    )
    assert (
        "for 3 intervals (threshold 30)" in spike[0]["message"]
        and "for 3 intervals (threshold 8)" in spike[1]["message"]
    )
    assert monitor.check(health(step=21_500, updates=rows(loss=1e15, grad=5e3))) == []  # still in trouble: no flood


def test_after_a_live_change_its_effect_on_loss_and_gradient_is_watched_closely():
    change = (21_000, "learning_rate", 0.3)
    for last_change, expected in ((None, []), (change, ["loss_spike", "grad_spike"])):
        monitor = HealthMonitor(AlertsConfig(), budget_steps=1)
        noise = np.random.default_rng(0)
        for i in range(200):
            loss, grad = noise.lognormal(0.0, 1.0), noise.lognormal(1.0, 0.8)
            monitor.check(health(step=1_000 + 100 * i, updates=rows(loss=loss, grad=grad)))
        fired = []
        for step in (21_100, 21_200, 21_300):  # 100× the loss, 30× the gradient: a degradation, not an explosion
            fired += monitor.check(health(step=step, updates=rows(loss=100.0, grad=80.0), last_change=last_change))
        assert names(fired) == expected
    assert (
        "since the live change learning_rate = 0.3 at step 21,000: undo it with its rollback command"
        in fired[0]["message"]
    )


def test_q_outside_the_returns_range_either_side_naming_it():
    cartpole = HealthMonitor(AlertsConfig())
    assert cartpole.check(health(updates=rows(q=100.0, q_max=104.0))) == []  # 1/(1-γ) with bootstrapped truncation
    assert cartpole.check(health(updates=rows(q=240.0, q_max=280.0))) == []  # overestimated as healthy runs were
    over = HealthMonitor(AlertsConfig()).check(health(updates=rows(q=350.0, q_max=450.0)))
    assert names(over) == ["q_out_of_range"]
    assert "max Q 450 at step 5,000 is above the most any return can be, 100" in over[0]["message"]
    mountaincar = dict(q_range=(-50.0, 0.0), target_return=-110.0)  # every reward -1, γ = 0.98
    assert HealthMonitor(AlertsConfig()).check(health(updates=rows(q=-40.0, q_max=12.0), **mountaincar)) == []
    positive = HealthMonitor(AlertsConfig()).check(health(updates=rows(q=-40.0, q_max=160.0), **mountaincar))
    assert (
        names(positive) == ["q_out_of_range"]
        and "max Q 160 at step 5,000 is above the most any return can be, 0" in positive[0]["message"]
    )
    below = HealthMonitor(AlertsConfig()).check(health(updates=rows(q=-220.0, q_max=-60.0), **mountaincar))
    assert (
        names(below) == ["q_out_of_range"]
        and "mean Q -220 at step 5,000 is below the least any return can be, -50" in below[0]["message"]
    )


def test_q_near_zero_and_no_reward():
    near_zero = HealthMonitor(AlertsConfig()).check(health(step=7_000, updates=rows(q=0.01)))
    assert names(near_zero) == ["q_near_zero"] and "not learning values" in near_zero[0]["message"]
    assert HealthMonitor(AlertsConfig()).check(health(step=3_000, updates=rows(q=0.01))) == []  # too early
    monitor = HealthMonitor(AlertsConfig())
    fired = []
    for step in range(5_100, 7_200, 100):
        fired += monitor.check(health(step=step, rewards=np.zeros(100)))
    assert (
        names(fired) == ["no_reward"]
        and "no reward at all for the last 2,000 steps at step 7,000" in fired[0]["message"]
    )
    sparse = HealthMonitor(AlertsConfig())  # random play saw no reward either: zeros are normal there
    assert all(
        sparse.check(health(step=s, rewards=np.zeros(100), q_range=(0.0, 0.0))) == [] for s in range(5_000, 9_000, 100)
    )


def test_no_learning_signal_when_the_weights_stop_moving():
    monitor = HealthMonitor(AlertsConfig())
    fired = [
        a for i in range(12) for a in monitor.check(health(step=5_000 + 100 * i, updates=rows(), weights_changed=False))
    ]
    assert (
        names(fired) == ["no_learning_signal"] and "the weights have not changed for 1,000 steps" in fired[0]["message"]
    )
    vanished = HealthMonitor(AlertsConfig())
    fired = [a for i in range(10) for a in vanished.check(health(step=5_000 + 100 * i, updates=rows(grad=0.0)))]
    assert names(fired) == ["no_learning_signal"] and "the gradient norm is 0" in fired[0]["message"]


def test_exploration_no_exploration_collapse_and_low_entropy():
    alerts = HealthMonitor(AlertsConfig()).check(
        health(epsilon=0.8, action_counts=np.array([990, 10]), entropy=0.056, epsilon_end_step=20_000)
    )
    assert names(alerts) == ["action_collapse", "low_entropy"]
    assert "action 0 took 99% of recent steps at step 5,000 while ε = 0.80 (threshold 95%)" in alerts[0]["message"]
    stuck = HealthMonitor(AlertsConfig()).check(health(epsilon=0.0, epsilon_end=0.0, epsilon_end_step=0))
    assert names(stuck) == ["no_exploration"] and "ε = 0 at step 5,000" in stuck[0]["message"]
    assert HealthMonitor(AlertsConfig()).check(health(epsilon=0.01)) == []
    assert HealthMonitor(AlertsConfig()).check(health(step=900, epsilon=0.0)) == []  # the warm-up explores


def evaluations(monitor, means, start=1_000, every=1_000, **fields) -> list[dict]:
    fired = []
    for i, mean in enumerate(means):
        step = start + every * i
        fired += monitor.check(health(step=step, evaluation=(step, mean), **fields))
    return fired


def test_no_progress_by_greedy_evaluation():
    stuck = evaluations(HealthMonitor(AlertsConfig()), [9.0, 12.0, 10.0, 9.5, 11.0, 10.0] * 2)
    assert names(stuck) == ["no_progress"]
    assert "greedy evaluation at most 12.0 by step 12,000, no better than its first 9.0" in stuck[0]["message"]
    assert evaluations(HealthMonitor(AlertsConfig()), [9.0, 130.0, 200.0, 180.0, 150.0, 170.0]) == []
    assert (
        evaluations(HealthMonitor(AlertsConfig()), [500.0] * 12) == []
    )  # solved from the first (a fork of a solved run)


def test_flat_by_greedy_evaluation_long_after_epsilon_ended_but_not_once_solved():
    cfg = AlertsConfig(flat_after_steps=10_000)
    flat = evaluations(HealthMonitor(cfg), [9.0, 100.0, 150.0] + [160.0] * 30)
    assert names(flat) == ["flat_return"] and "greedy evaluation flat: best 150.0 at step 3,000" in flat[0]["message"]
    assert evaluations(HealthMonitor(cfg), [9.0, 100.0, 480.0] + [300.0] * 30) == []  # reached the target once
    acrobot = evaluations(HealthMonitor(cfg), [-500.0, -300.0, -90.0] + [-95.0] * 30, target_return=-100.0)
    assert acrobot == []  # solved: the flickering ε-greedy training return is not judged


def test_flat_training_return_when_evaluations_are_off():
    cfg = AlertsConfig(flat_after_steps=10_000)
    monitor = HealthMonitor(cfg)
    fired = []
    for step in range(10_000, 40_001, 1_000):
        fired += monitor.check(health(step=step, recent_return=120.0, evaluations_on=False))
    assert names(fired) == ["flat_return"] and "training return flat at 120.0" in fired[0]["message"]


def test_one_alert_per_kind_per_budget_and_a_count_of_the_rest():
    monitor = HealthMonitor(AlertsConfig(spike_persistence=1), budget_steps=1_000)
    for i in range(30):
        monitor.check(health(step=1_000 + 100 * i, updates=rows()))
    shown = []
    for step in range(4_000, 6_100, 200):  # a spike every other interval: a new episode of trouble each time
        shown += monitor.check(health(step=step, updates=rows(grad=500.0)))
        shown += monitor.check(health(step=step + 100, updates=rows()))
    assert [a["name"] for a in shown] == ["grad_spike", "grad_spike", "grad_spike"]
    assert "(+4 more gradient spikes since step 4,200)" in shown[1]["message"]
    assert "(+4 more gradient spikes since step 5,200)" in shown[2]["message"]
    assert monitor.counts["grad_spike"] == 11 and monitor.folded() == {}
    monitor.check(health(step=6_200, updates=rows(grad=500.0)))
    assert monitor.folded() == {"grad_spike": (1, 6_200)}  # told at the run's end


def test_a_muted_kind_is_counted_not_shown_and_nan_is_never_muted():
    monitor = HealthMonitor(AlertsConfig(muted=["q_out_of_range", "non_finite"]))
    assert monitor.check(health(updates=rows(q=500.0))) == [] and monitor.counts == {"q_out_of_range": 1}
    nan = monitor.check(health(step=6_000, updates=rows(loss=float("nan"))))
    assert names(nan) == ["non_finite"] and nan[0]["fatal"]


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
    alerts = [e for e in trainer.store.events if e.kind == "alert" and e.get("name") == "non_finite"]
    assert len(alerts) == 1, "one alert per episode of trouble, however it was found"
    alert = alerts[0]
    assert alert.get("fatal")
    good = checkpoints.find(tmp_path / "run")
    tensors, meta = checkpoints.load(good)
    assert meta["step"] < alert.step
    assert all(np.isfinite(t.numpy()).all() for t in tensors["q"].values())
    records = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert records and json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "failed"


def test_nan_pauses_a_watched_run_with_the_diagnosis(tmp_path):
    trainer = diverging_trainer(tmp_path / "run", on_non_finite="pause")
    diverge = trainer.commands.diverge

    def diverge_then_stop(message):  # a person would read the diagnosis, then stop
        diverge(message)
        assert trainer.commands.paused and trainer.state == "paused"
        trainer.control.stop("test")

    trainer.commands.diverge = diverge_then_stop
    summary = trainer.run()
    pause = next(e for e in trainer.store.events if e.kind == "pause")
    assert pause.get("source") == "alert" and "non-finite" in pause.get("message")
    assert summary["status"] == "stopped"
    assert any(e.kind == "checkpoint_skipped" for e in trainer.store.events)


@pytest.mark.parametrize("value", ["pause", "stop"])
def test_the_preset_can_choose_what_nan_does(value):
    assert Trainer(tiny_config(alerts={"on_non_finite": value})).on_non_finite == value


def test_mutes_and_alert_counts_survive_a_resume(tmp_path):
    trainer = Trainer(tiny_config(), tmp_path / "run")
    trainer.step_hook = lambda t, action, result: (
        t.step == 100 and t.control.mute("grad_spike", source="test"),
        result,
    )[1]
    trainer.health.counts["q_near_zero"] = 2  # as if it had fired twice
    assert trainer.run()["alerts"] == {"q_near_zero": 2}
    resumed = Trainer(tiny_config(run={"total_steps": 700}), tmp_path / "run")
    resumed.resume_from(checkpoints.find(tmp_path / "run"))
    assert resumed.health.muted == {"grad_spike"} and resumed.health.counts == {"q_near_zero": 2}
    assert resumed.run()["alerts"] == {"q_near_zero": 2}
    fork = Trainer(tiny_config(run={"total_steps": 700}), tmp_path / "fork")
    fork.resume_from(checkpoints.find(tmp_path / "run"), fork=True)
    assert fork.health.muted == {"grad_spike"} and fork.health.counts == {}


def test_a_resumed_monitor_judges_as_the_uninterrupted_one():
    """Its state goes through JSON (the checkpoint's meta.json) and back."""
    config = AlertsConfig()
    first, noise = HealthMonitor(config), np.random.default_rng(1)
    stream = [
        health(
            step=1_000 + 100 * i,
            updates=rows(loss=noise.lognormal(), grad=noise.lognormal(1, 0.8)),
            evaluation=(1_000 + 100 * i, 500.0) if i % 10 == 0 else None,
        )
        for i in range(300)
    ]
    for h in stream[:150]:
        first.check(h)
    resumed = HealthMonitor(config)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    assert [first.check(h) for h in stream[150:]] == [resumed.check(h) for h in stream[150:]]
    assert resumed.state_dict() == first.state_dict()
