"""`cockpit check` on image observations: every item runs on catch (and on Pong, shortened), the
observation items summarise pixels instead of listing dimensions, actions go by the game's names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import catch_env
import numpy as np
import pytest

from cockpit.engine import env_checks, network_probes, probes
from cockpit.engine.checks import FAIL, OK, WARN, CheckResult, run_checks
from cockpit.engine.config import build_config, load_preset
from cockpit.engine.envs import EnvInfo

REPO = Path(__file__).resolve().parents[1]
CATCH = {
    "env": {"id": f"catch_env:{catch_env.ENV_ID}", "frame_stack": 2},
    "dqn": {"epsilon_decay": 2_000, "buffer_size": 5_000, "warmup_steps": 500},
    "run": {"total_steps": 6_000},
}


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


@pytest.fixture(scope="module")
def catch_results() -> list[CheckResult]:
    return run_checks(build_config(CATCH, "catch"))


def test_catch_passes_every_check(catch_results):
    assert {r.name: r.status for r in catch_results if r.status != OK} == {}, catch_results


def test_catch_observations_are_summarised_as_pixels_not_dimensions(catch_results):
    items = by_name(catch_results)
    assert items["observations in space"].figure == "all 200 within the declared Box"
    ranges = items["observation ranges"].figure
    assert ranges.startswith("pixels [0, 255] in (10, 10) images") and "% of pixels change per step" in ranges
    assert "each of the 3 actions leads to a different next frame" in items["actions change the state"].figure
    assert items["action histogram"].figure.startswith("LEFT: ")
    assert "of the newest frame's pixels changed at some step" in items["state coverage"].figure
    assert len(items["gradients reach every layer"].figure.split(" · ")) == 3  # the convolution and two Linear layers
    assert "GB of frames once full" in items["buffer_size"].figure
    assert not any(" x0 " in f" {r.figure}" for r in catch_results)


def test_a_game_that_ends_after_a_fixed_number_of_moves_is_not_a_time_limit(catch_results):
    assert by_name(catch_results)["terminations vs truncations"].status == OK
    rewards = [np.array([1.0] * 8 + [1.0]) for _ in range(5)]  # the end pays like every step: a time limit?
    rollouts = probes.Rollouts(rewards, [1.0] * 5, [9] * 5, 5, 0, np.zeros((0, 0)), "Box", True, 0, "")
    info = EnvInfo(obs_dim=4, n_actions=2, time_limit=0, target_return=float("nan"))
    assert by_name(env_checks._episodes(rollouts, info))["terminations vs truncations"].status == WARN


def test_image_rollouts_keep_a_summary_not_the_frames():
    rollouts = probes.random_rollouts(build_config(CATCH, "catch"))
    assert rollouts.observations.size == 0 and rollouts.images is not None
    assert rollouts.images.seen == sum(rollouts.lengths) + len(rollouts.lengths)


@pytest.mark.parametrize(
    "frames, status, fragment",
    [
        ([np.zeros((4, 4), np.uint8)] * 3, FAIL, "every pixel of every image is the same"),
        ([np.eye(4, dtype=np.uint8) * 255] * 3, WARN, "no pixel changed in any step"),
        ([np.eye(4, dtype=np.uint8) * 255, np.zeros((4, 4), np.uint8)], OK, "25.0% of pixels change per step"),
    ],
)
def test_image_ranges_judge_the_picture_as_a_whole(frames, status, fragment):
    images = probes.ImageStats()
    for previous, frame in zip([None, *frames], frames, strict=False):
        images.add(frame, previous)
    result = env_checks._image_ranges(images)
    assert result.status == status and fragment in result.figure


def test_pong_runs_every_item_with_its_action_names(monkeypatch):
    pytest.importorskip("ale_py")
    for name, value in {"EPISODES": 2, "EPISODE_CAP": 300, "PROBES": 2}.items():
        monkeypatch.setattr(probes, name, value)
    monkeypatch.setattr(network_probes, "BURST_UPDATES", 3)
    monkeypatch.setattr(network_probes, "EXPLORE_STEPS", 200)
    results = run_checks(load_preset(REPO / "presets" / "pong.toml"))
    assert "the environment runs" not in by_name(results), [r for r in results if r.name == "the environment runs"]
    items = by_name(results)
    ranges = items["observation ranges"].figure
    assert ranges.startswith("pixels [") and "(84, 84) images" in ranges
    assert "NOOP=FIRE" in items["actions change the state"].figure  # Pong's FIRE moves nothing
    assert items["action histogram"].figure.startswith("NOOP: ")
    assert (
        len(items["gradients reach every layer"].figure.split(" · ")) == 5
    )  # Nature CNN: three convolutions, two Linear
    assert items["hidden_size"].figure == "not used: the Nature CNN's dense layer has 512 units"


def cockpit_check(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    preset = tmp_path / "catch.toml"
    preset.write_text(f'[env]\nid = "catch_env:{catch_env.ENV_ID}"\n[dqn]\n[run]\n')
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    argv = [sys.executable, "-m", "cockpit", "check", str(preset), *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, cwd=tmp_path, timeout=300)


def test_a_network_that_does_not_fit_the_image_is_bad_input(tmp_path):
    done = cockpit_check(tmp_path, "--set", "dqn.network=mlp")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "dqn.network = 'mlp': the observation is an image (1, 10, 10)" in done.stderr
