"""One short end-to-end run per alert kind where that is cheap, with the fault injected the way
bench/alerts_calibration.py injects it at full length: the alert that must name the fault fires,
soon after it. (A live learning rate ×1000 needs a run trained for a while to show; the bench runs
it, and tests/test_alerts.py checks the rule on a synthetic stream.)"""

from __future__ import annotations

import pytest
from tiny import tiny_config

from cockpit.engine.trainer import Trainer

FAULT_STEP = 2_500
RUN = {"total_steps": 5_000, "eval_freq": 1_000, "eval_episodes": 1}


def rewards_times(factor: float):
    def hook(trainer, action, result):
        obs, reward, terminated, truncated, info = result
        return obs, (reward * factor if trainer.step >= FAULT_STEP else reward), terminated, truncated, info

    return hook


def once(act):
    done = []

    def hook(trainer, action, result):
        if not done and trainer.step >= FAULT_STEP:
            done.append(act(trainer))
        return result

    return hook


FAULTS = {
    "rewards x1000": ({}, rewards_times(1000.0), {"q_out_of_range"}),
    "rewards zeroed": ({}, rewards_times(0.0), {"no_reward"}),
    "network frozen": ({}, once(lambda t: t.agent.set_learning_rate(0.0)), {"no_learning_signal"}),
    "epsilon stuck at 0": ({"epsilon_start": 0.0, "epsilon_end": 0.0}, None, {"no_exploration"}),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_the_alert_that_names_the_fault_fires(fault):
    dqn, hook, expected = FAULTS[fault]
    trainer = Trainer(tiny_config(dqn=dqn, run=RUN, env={"max_episode_steps": 200}))
    trainer.step_hook = hook
    summary = trainer.run()
    alerts = [(e.get("name"), e.step) for e in trainer.store.events if e.kind == "alert"]
    start = FAULT_STEP if hook is not None and fault != "epsilon stuck at 0" else 0
    fired = [step for name, step in alerts if name in expected and step >= start]
    assert fired and fired[0] - start <= 2_100, alerts  # no_reward waits 2,000 steps by default
    assert set(summary["alerts"]) >= {name for name, step in alerts if step == fired[0] and name in expected}
