"""`cockpit play` driven with the Pilot: keys act, the step's reward, flags and observation are shown,
`n` steps randomly, `R` resets with the next training seed, `q` quits; an env without rendering
shows its observations with a note."""

from __future__ import annotations

from pathlib import Path

import broken_envs
import catch_env
import pytest

from cockpit.cli import main as cockpit_main
from cockpit.engine import seeding
from cockpit.engine.config import load_preset
from cockpit.ui.play_app import PlayApp, create_play_app, key_range

CARTPOLE = Path(__file__).resolve().parents[1] / "presets" / "cartpole.toml"
PONG = CARTPOLE.parent / "pong.toml"
SIZE = (100, 40)


def cartpole_app(*overrides: str) -> PlayApp:
    return create_play_app(load_preset(CARTPOLE, list(overrides)))


def readout(app: PlayApp) -> str:
    return str(app.query_one("#readout").render())


def frame(app: PlayApp) -> str:
    return str(app.query_one("#frame").render())


async def test_number_keys_and_arrows_step_the_env_and_show_what_came_back():
    app = cartpole_app()
    async with app.run_test(size=SIZE) as pilot:
        first_seed = seeding.derive(1, seeding.TRAIN_RESET, 0)
        assert f"episode 1 · reset seed {first_seed} · step 0 · reset" in readout(app)
        assert "▀" in frame(app)
        await pilot.press("2")
        view = app.session.view
        assert (view.step, view.action, view.reward) == (1, 1, 1.0)
        text = readout(app)
        assert "step 1 · action 1" in text and "reward +1 · return 1" in text
        assert "terminated False · truncated False" in text
        assert "obs " + " ".join(f"{x:+.4g}" for x in view.observation) in text
        pushed_right = view.observation[1]
        await pilot.press("left")
        assert (app.session.view.step, app.session.view.action) == (2, 0)
        assert app.session.view.observation[1] < pushed_right  # the cart's velocity went down
        assert "return 2" in readout(app)


async def test_keys_outside_the_action_set_do_not_step():
    app = cartpole_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5", "down")
        assert app.session.view.step == 0


async def test_n_steps_randomly_and_R_resets_with_the_next_seed():
    app = cartpole_app("run.seed=3")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "n")
        assert app.session.view.step == 2 and app.session.view.action in (0, 1)
        await pilot.press("R")
        view = app.session.view
        assert (view.episode, view.step, view.episode_return) == (1, 0, 0.0)
        assert view.reset_seed == seeding.derive(3, seeding.TRAIN_RESET, 1)
        assert f"episode 2 · reset seed {view.reset_seed} · step 0" in readout(app)


async def test_the_end_of_an_episode_is_shown_and_stops_stepping():
    app = cartpole_app()
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(100):
            await pilot.press("1")
            if app.session.done:
                break
        view = app.session.view
        assert view.terminated and not view.truncated
        text = readout(app)
        assert f"return {view.step}" in text and "terminated True · truncated False" in text
        assert "episode over: R starts the next one" in text
        await pilot.press("1")
        assert app.session.view.step == view.step
        await pilot.press("R")
        assert not app.session.done and app.session.view.step == 0


async def test_q_quits():
    app = cartpole_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_an_env_without_rendering_shows_observations_and_when_the_reward_arrives():
    app = cartpole_app(f"env.id={broken_envs.NAMESPACE}/Corridor-v0")
    async with app.run_test(size=SIZE) as pilot:
        assert "has no rgb_array rendering: observations only" in frame(app)
        await pilot.press("right", "right")
        assert "reward +0 · return 0" in readout(app) and "obs +2" in readout(app)
        await pilot.press("right")
        text = readout(app)
        assert "step 3 · action 1" in text and "reward +1 · return 1" in text
        assert "terminated True" in text and "obs +3" in text


def test_bad_input_exits_2(capsys):
    assert cockpit_main(["play", "no-such-preset.toml"]) == 2
    assert capsys.readouterr().err.startswith("cockpit: error: no-such-preset.toml: no such preset file")


async def test_an_env_that_raises_in_step_is_shown_and_play_goes_on():
    app = cartpole_app(f"env.id=broken_envs:{broken_envs.NAMESPACE}/Crashes-v0", "env.max_episode_steps=200")
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(20):  # Crashes raises on its 20th step (alternate pushes keep the pole up that long)
            await pilot.press("2" if app.session.view.step % 2 else "1")
        assert app.is_running and app.session.done
        assert app.error.startswith("the environment raised ValueError: boom in step")
        await pilot.press("R")
        assert app.session.view.step == 0 and not app.session.done


CATCH = f"catch_env:{catch_env.ENV_ID}"


async def test_a_game_with_named_actions_is_played_by_their_names_on_keys_shown():
    app = cartpole_app(f"env.id={CATCH}", "env.max_episode_steps=0", "env.frame_stack=2")
    async with app.run_test(size=SIZE) as pilot:
        text = readout(app)
        assert "keys: 1 LEFT · 2 NOOP · 3 RIGHT · ← LEFT · → RIGHT · n random · R reset · q quit" in text
        assert "obs (2, 10, 10) uint8 · pixels 0–255" in text and "▀" in frame(app)
        await pilot.press("right")
        assert (app.session.view.step, app.session.view.action) == (1, catch_env.RIGHT)
        assert "action 2 (RIGHT)" in readout(app)
        assert "% of the newest frame's pixels changed" in readout(app)  # an image summarised, not printed
        await pilot.press("space", "up")  # catch has no FIRE and no UP
        assert app.session.view.step == 1


async def test_pong_is_played_with_its_own_action_names():
    pytest.importorskip("ale_py")
    app = create_play_app(load_preset(PONG))
    async with app.run_test(size=(120, 60)) as pilot:
        text = readout(app)
        assert "1 NOOP · 2 FIRE · 3 RIGHT · 4 LEFT · 5 RIGHTFIRE · 6 LEFTFIRE" in text
        assert "6 LEFTFIRE · ← LEFT · → RIGHT · space FIRE · n random" in text
        assert "obs (4, 84, 84) uint8" in text and "▀" in frame(app)
        await pilot.press("space")
        assert (app.session.view.step, app.session.view.action) == (1, 1)
        assert "action 1 (FIRE)" in readout(app)
        await pilot.press("6")
        assert "action 5 (LEFTFIRE)" in readout(app)


def test_the_keys_of_any_number_of_actions_are_named_as_a_range():
    assert [key_range(n) for n in (1, 2, 6, 9, 10, 11, 18)] == [
        "1",
        "1–2",
        "1–6",
        "1–9",
        "1–9, 0",
        "1–9, 0, a",
        "1–9, 0, a–h",
    ]
