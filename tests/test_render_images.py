"""Renders of image envs: the render key plays a greedy episode of an image policy and saves its real
frames as a GIF; frames of any size (Atari's 210x160) are drawn at the panel's size, in colour, off
the UI thread; a long episode's GIF keeps its memory bounded."""

from __future__ import annotations

import asyncio
import itertools

import catch_env
import numpy as np
import pytest
from textual.app import App
from tiny import tiny_config

from cockpit.engine.agent import q_network
from cockpit.engine.config import load_preset
from cockpit.engine.envs import inspect_env
from cockpit.engine.rendering import EpisodeFrames, play_greedy
from cockpit.ui.launch import create_app
from cockpit.ui.widgets.render_panel import RenderPanel

CATCH = {"id": f"catch_env:{catch_env.ENV_ID}", "max_episode_steps": 0, "frame_stack": 2}
SMALL_CATCH = {"buffer_size": 400, "batch_size": 16, "warmup_steps": 100}
FRAME_PIXELS = catch_env.PIXELS_PER_CELL * 10


def untrained_policy(config) -> dict:
    info = inspect_env(config.env)
    return {"q": q_network(info.obs_shape, info.n_actions, config.dqn).state_dict(), "step": 0}


def test_a_greedy_episode_of_an_image_policy_yields_the_envs_real_frames():
    config = tiny_config(env=CATCH, dqn=SMALL_CATCH)
    shown = list(play_greedy(config, untrained_policy(config), seed=3))
    assert [s.step for s in shown] == list(range(10))  # the reset frame, then catch's 9 steps
    assert all(s.frame.shape == (FRAME_PIXELS, FRAME_PIXELS, 3) and s.frame.dtype == np.uint8 for s in shown)
    assert shown[-1].done and shown[-1].episode_return in (-1.0, 1.0)


def test_a_pong_render_shows_the_full_colour_screen():
    pytest.importorskip("ale_py")
    config = load_preset("presets/pong.toml")
    episode = play_greedy(config, untrained_policy(config), seed=1)
    try:
        frames = [s.frame for s in itertools.islice(episode, 3)]
    finally:
        episode.close()
    assert all(f.shape == (210, 160, 3) for f in frames)
    assert len({tuple(c) for c in frames[-1].reshape(-1, 3)}) > 2  # colours, not the agent's grayscale


def test_episode_frames_keep_at_most_their_limit_and_slow_the_gif_to_match():
    frames = EpisodeFrames(limit=8)
    for i in range(5):
        frames.add(np.full((2, 2, 3), i, np.uint8))
    assert [int(f[0, 0, 0]) for f in frames.frames] == [0, 1, 2, 3, 4] and frames.fps(30) == 30
    for i in range(5, 100):
        frames.add(np.full((2, 2, 3), i, np.uint8))
    kept = [int(f[0, 0, 0]) for f in frames.frames]
    assert len(kept) <= 8 and kept == list(range(0, 100, frames.stride)) and frames.stride == 16
    assert frames.fps(30) == 2


class PanelApp(App):
    def compose(self):
        yield RenderPanel()

    def on_mount(self) -> None:
        self.query_one(RenderPanel).open("Render")


@pytest.mark.parametrize("size", [(160, 48), (80, 24)])
async def test_an_atari_sized_frame_is_drawn_at_the_panels_size_in_colour(size):
    frame = np.zeros((210, 160, 3), np.uint8)
    frame[:, :] = (144, 72, 17)  # Pong's orange field
    frame[100:120, 60:80] = (236, 236, 236)
    app = PanelApp()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        panel = app.query_one(RenderPanel)
        area = panel.query_one("#frame").size
        text = await asyncio.to_thread(panel.frame_text, frame)  # as the render worker converts it
        lines = text.plain.split("\n")
        assert len(lines) <= area.height and max(len(line) for line in lines) <= area.width
        assert len(lines) >= area.height - 1 or max(len(line) for line in lines) >= min(area.width, 120) - 1
        assert {str(span.style) for span in text.spans} >= {"#904811 on #904811", "#ececec on #ececec"}
        panel.show_frame(text, "step 0")
        await pilot.pause()
        assert "▀" in str(panel.query_one("#frame").render())


async def test_r_on_an_image_run_saves_the_real_frames_as_a_gif(tmp_path):
    from PIL import Image

    config = tiny_config(env=CATCH, dqn=SMALL_CATCH, run={"total_steps": 1_000_000, "eval_freq": 100_000})
    app = create_app(config, tmp_path / "run", refresh_s=0.2)
    replies = []
    submit = app.control.submit
    app.control.submit = lambda command: replies.append(submit(command)) or replies[-1]
    async with app.run_test(size=(160, 48)) as pilot:
        app.control.resume("test")
        await pilot.press("r")
        assert app.query_one(RenderPanel).is_open
        await asyncio.wait_for(asyncio.wrap_future(replies[-1]), 60)  # the policy snapshot
        await pilot.pause()
        assert app.render_worker is not None
        await app.render_worker.wait()
        await pilot.pause()
        assert "saved" in str(app.query_one("#caption").render())
        assert "▀" in str(app.query_one("#frame").render())
    gif = Image.open(next((tmp_path / "run" / "renders").glob("*.gif")))
    assert gif.size == (FRAME_PIXELS, FRAME_PIXELS) and gif.n_frames > 1
