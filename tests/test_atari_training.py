"""Training on image observations: the catch game through the frame replay and a small CNN
(reproducible, evaluation at eval_epsilon leaves training alone, it learns), a short Pong run through
the Nature CNN, and the memory check of an image replay."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import catch_env
import learning_check
import numpy as np
import pytest
from gymnasium.wrappers import RecordEpisodeStatistics

from cockpit import cli
from cockpit.engine import resources
from cockpit.engine.config import Config, build_config, load_preset
from cockpit.engine.evaluation import evaluate
from cockpit.engine.frame_buffer import TERMINATED, FrameReplayBuffer, FrameSampler
from cockpit.engine.trainer import Trainer

CATCH = f"catch_env:{catch_env.ENV_ID}"
GIB = 2**30


def catch_config(seed: int = 1, total_steps: int = 800, **tables: dict) -> Config:
    """Catch with the small CNN and a replay that wraps several times in a short run."""
    config: dict[str, dict] = {
        "env": {"id": CATCH},
        "dqn": {
            "network": "small_cnn",
            "hidden_size": 32,
            "buffer_size": 300,
            "batch_size": 16,
            "warmup_steps": 100,
            "train_freq": 4,
            "target_update": 100,
            "epsilon_decay": 500,
            "learning_rate": 1e-3,
        },
        "run": {"seed": seed, "total_steps": total_steps, "eval_freq": total_steps, "eval_episodes": 5},
    }
    for table, keys in tables.items():
        config[table] = {**config[table], **keys}
    return build_config(config, "test")


def weights_hash(trainer: Trainer) -> str:
    state = trainer.agent.state_dict()
    digest = hashlib.sha256()
    for part in ("q", "target"):
        for key, tensor in sorted(state[part].items()):
            digest.update(key.encode() + tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def train(config: Config, run_dir: Path | None = None) -> Trainer:
    trainer = Trainer(config, run_dir)
    try:
        summary = trainer.run()
    finally:
        trainer.close()
    assert summary["status"] == "finished", summary
    return trainer


def test_a_catch_run_trains_through_the_frame_replay_and_repeats_bit_for_bit():
    first = train(catch_config())
    assert isinstance(first.buffer, FrameReplayBuffer) and isinstance(first.sampler, FrameSampler)
    assert first.buffer.written > 2 * first.buffer.capacity  # the ring wrapped
    assert first.agent.compute_path.startswith("autograd/cpu")
    assert first.progress.updates == (800 - 100) // 4
    second = train(catch_config())
    assert weights_hash(first) == weights_hash(second)
    assert first.agent.optimizer.state_dict()["state"][0]["exp_avg"].equal(
        second.agent.optimizer.state_dict()["state"][0]["exp_avg"]
    )
    assert first.progress.episode_returns == second.progress.episode_returns
    assert first.sampler.state_dict()["pos"] == second.sampler.state_dict()["pos"]


def test_evaluations_at_eval_epsilon_leave_training_as_it_was():
    once = train(catch_config(run={"eval_epsilon": 0.3}))
    often = train(catch_config(run={"eval_epsilon": 0.3, "eval_freq": 200}))
    assert len(often.store.evaluations) == 4 and len(once.store.evaluations) == 1
    assert weights_hash(once) == weights_hash(often)
    assert once.progress.episode_returns == often.progress.episode_returns
    # The same weights give the same evaluation; exploring changes what it sees.
    explored = [once.evaluate_now().lengths for _ in range(2)]
    assert explored[0] == explored[1]


def test_evaluation_at_eval_epsilon_explores_from_its_own_generators():
    env = RecordEpisodeStatistics(catch_env.Catch())

    def stay(obs: np.ndarray) -> int:
        return catch_env.STAY

    seeds = list(range(20))
    greedy = evaluate(stay, env, seeds)
    assert evaluate(stay, env, seeds).returns == greedy.returns
    explored = evaluate(stay, env, seeds, epsilon=1.0, action_seeds=list(range(100, 120)))
    assert explored.returns == evaluate(stay, env, seeds, epsilon=1.0, action_seeds=list(range(100, 120))).returns
    assert explored.returns != greedy.returns
    with pytest.raises(ValueError, match="action seed per episode"):
        evaluate(stay, env, seeds, epsilon=0.5)


def test_a_lost_life_is_terminal_for_learning_and_the_episode_goes_on():
    trainer = Trainer(catch_config(total_steps=18, dqn={"warmup_steps": 100}))

    def lose_a_life(t: Trainer, action: int, result: tuple) -> tuple:
        obs, reward, terminated, truncated, info = result
        return obs, reward, terminated, truncated, {**info, "life_lost": t.step == 3}

    trainer.step_hook = lose_a_life
    trainer.run()
    trainer.close()
    buffer = trainer.buffer
    assert isinstance(buffer, FrameReplayBuffer)
    terminal = [int(j) for j in buffer.transitions() if buffer.flags[j] & TERMINATED]
    # Episode 1 is frames 0-9 (its transitions 0-8), episode 2 frames 10-19: catch's episodes last 9 steps.
    assert terminal == [3, 8, 18] and trainer.progress.episode == 2


def test_the_replay_of_a_run_holds_the_stacks_the_env_returned():
    trainer = Trainer(catch_config(total_steps=400, env={"frame_stack": 3}, dqn={"warmup_steps": 1_000}))
    returned: dict[int, np.ndarray] = {}

    def remember(t: Trainer, action: int, result: tuple) -> tuple:
        buffer = t.buffer
        assert isinstance(buffer, FrameReplayBuffer)
        returned[buffer.written - 1 if buffer.open else buffer.written] = result[0].copy()  # by transition
        return result

    trainer.step_hook = remember
    trainer.run()
    trainer.close()
    buffer = trainer.buffer
    assert isinstance(buffer, FrameReplayBuffer) and buffer.written > buffer.capacity
    batch = buffer.gather(np.arange(buffer.size))
    assert batch.obs.shape == (buffer.size, 3, 10, 10) and batch.obs.dtype == np.uint8
    for i, j in enumerate(buffer.transitions()):
        assert np.array_equal(batch.next_obs[i], returned[int(j)])
        if int(j) - 1 in returned and not buffer.flags[(int(j) - 1) % buffer.capacity] & TERMINATED:
            assert np.array_equal(batch.obs[i], returned[int(j) - 1])


# --------------------------------------------------------------------------- learning


def test_a_cnn_dqn_learns_catch():
    """One seed here; bench/catch_learning.py checks three of three (and says how long each took)."""
    mean, _ = learning_check.final_greedy_return(seed=1)
    assert mean >= learning_check.halfway()


# --------------------------------------------------------------------------- Atari


def test_a_short_pong_run_trains_the_nature_cnn_and_logs_raw_returns(tmp_path):
    pytest.importorskip("ale_py")
    config = load_preset("presets/pong.toml").replace("dqn", buffer_size=2_000, warmup_steps=100, batch_size=8)
    config = config.replace("env", max_episode_steps=120, clip_reward=0.5)  # the preset says rewards are ±1
    config = config.replace("run", total_steps=300, eval_freq=10_000, log_interval=100)
    trainer = train(config, tmp_path / "run")
    assert trainer.agent.q.__class__.__name__ == "ImageQNetwork"
    assert trainer.progress.updates == (300 - 100) // 4
    assert trainer.reward_range == (-0.5, 0.5)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    returns = [r["return"] for r in records if r["kind"] == "episode"]
    assert returns and all(r == int(r) for r in returns) and min(returns) <= -1  # raw points, not halves
    assert isinstance(trainer.buffer, FrameReplayBuffer)
    learned = trainer.buffer.rewards[: trainer.buffer.held()]
    assert set(np.unique(learned)) <= {-0.5, 0.0, 0.5} and (learned != 0).any()


# --------------------------------------------------------------------------- memory


def test_the_pong_preset_is_sized_by_its_frame_replay(monkeypatch):
    from cockpit.presets import check_runnable

    config = load_preset("presets/pong.toml")
    replay, need = resources.image_run_bytes(config, (4, 84, 84), 4, 6)
    assert 6.5 * GIB < replay < 7.5e9 and need - replay < 1 * GIB
    monkeypatch.setattr(resources, "available_bytes", lambda: 8 * GIB)
    check_runnable(config, "presets/pong.toml")


def test_an_image_replay_that_cannot_fit_is_refused_before_the_run(write_preset, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(resources, "available_bytes", lambda: 4 * GIB)
    preset = write_preset(f'[env]\nid = "{CATCH}"\n\n[dqn]\nbuffer_size = 100000000\n')
    run_dir = tmp_path / "run"
    assert cli.main([str(preset), "--no-ui", "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert "dqn.buffer_size = 100,000,000: the image replay needs 11.0 GiB" in err, err
    assert "4.0 GiB available" in err and len(err.splitlines()) == 1
    assert not run_dir.exists()


def test_an_image_replay_smaller_than_a_stack_is_refused_before_the_run(write_preset, tmp_path, capsys):
    preset = write_preset(f'[env]\nid = "{CATCH}"\nframe_stack = 4\n\n[dqn]\nbuffer_size = 4\nbatch_size = 2\n')
    run_dir = tmp_path / "run"
    assert cli.main([str(preset), "--no-ui", "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert "dqn.buffer_size = 4: an image replay must hold more frames than env.frame_stack (4)" in err, err
    assert len(err.splitlines()) == 1 and not run_dir.exists()
