"""`cockpit play`: act in the preset's environment from the keyboard, one step per key.

The second rung of the debugging hierarchy: seeing that each action does what you think and that
the reward arrives when you expect it. Frames are drawn in half-block cells, as in the cockpit's
render panel; an env without rgb_array rendering shows its observations only. Episodes start from
the training run's own reset seeds (episode k of play is episode k of training).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import cast

# Before pygame loads: frames are drawn off-screen, with no window and no sound device.
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import gymnasium as gym
import numpy as np
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from cockpit.engine import seeding
from cockpit.engine.config import Config
from cockpit.engine.envs import describe_exception, make_env, raw_return_so_far
from cockpit.ui.halfblock import fit_frame, to_text

ARROWS = {2: {"left": 0, "right": 1}, 3: {"left": 0, "down": 1, "right": 2}}
"""Arrow keys for the action counts where left/right (and down for 'neither') fit the usual
action order: CartPole's push left/right, Acrobot's and MountainCar's -1/0/+1. Larger action
sets follow no common order, so they get number keys only."""
MAX_COLUMNS = 120


@dataclass(frozen=True)
class StepView:
    """What the screen shows after a reset (action None) or a step."""

    episode: int
    reset_seed: int
    step: int
    action: int | None
    reward: float
    agent_reward: float
    episode_return: float
    terminated: bool
    truncated: bool
    observation: np.ndarray
    frame: np.ndarray | None


def open_env(config: Config) -> tuple[gym.Env, str | None]:
    """The agent's env with rgb_array frames where it offers them; otherwise without, and a note why."""
    env = make_env(config.env)
    if "rgb_array" not in (env.metadata.get("render_modes") or []):
        return env, f"{config.env.id} has no rgb_array rendering: observations only"
    env.close()
    return make_env(config.env, render_mode="rgb_array"), None


class PlaySession:
    """The env, its seeds and the episode in progress; the app only shows what this returns."""

    def __init__(self, config: Config):
        self.config = config
        self.env, self.note = open_env(config)
        self.n_actions = int(cast(gym.spaces.Discrete, self.env.action_space).n)  # make_env refuses any other
        self.env.action_space.seed(seeding.derive(config.run.seed, seeding.ACTIONS))
        self.episode = 0
        self.view = self.reset(first=True)

    def reset(self, first: bool = False) -> StepView:
        """A new episode from the next training reset seed."""
        if not first:
            self.episode += 1
        reset_seed = seeding.derive(self.config.run.seed, seeding.TRAIN_RESET, self.episode)
        obs, _ = self.env.reset(seed=reset_seed)
        self.view = StepView(self.episode, reset_seed, 0, None, 0.0, 0.0, 0.0, False, False, obs, self._frame())
        return self.view

    @property
    def done(self) -> bool:
        return self.view.terminated or self.view.truncated

    def step(self, action: int) -> StepView:
        obs, agent_reward, terminated, truncated, _ = self.env.step(action)
        episode_return = raw_return_so_far(self.env)
        v = self.view
        self.view = StepView(
            v.episode,
            v.reset_seed,
            v.step + 1,
            action,
            episode_return - v.episode_return,
            float(agent_reward),
            episode_return,
            bool(terminated),
            bool(truncated),
            obs,
            self._frame(),
        )
        return self.view

    def random_action(self) -> int:
        return int(self.env.action_space.sample())

    def _frame(self) -> np.ndarray | None:
        if self.note:
            return None
        frame = self.env.render()
        if not isinstance(frame, np.ndarray) or frame.ndim != 3:
            self.note = f"{self.config.env.id}: render() returned no RGB frame: observations only"
            return None
        return frame

    def close(self) -> None:
        self.env.close()


class PlayApp(App):
    TITLE = "cockpit play"
    CSS = """
    #frame { height: 1fr; content-align: center middle; }
    #readout { height: auto; padding: 0 1; border-top: solid $accent; }
    """
    BINDINGS = [
        *[Binding(str(k), f"act({k - 1})", f"Action {k - 1}", show=False) for k in range(1, 10)],
        *[Binding(key, f"arrow('{key}')", key, show=False) for key in ("left", "down", "right")],
        Binding("n", "random_step", "Random step", id="random", tooltip="Step with a random action"),
        Binding("R", "reset", "Reset", id="reset", tooltip="A new episode with the next seed"),
        Binding("q", "quit", "Quit", id="quit", tooltip="Leave"),
    ]

    def __init__(self, session: PlaySession):
        super().__init__()
        self.session = session
        self.message = ""
        self.error: str | None = None  # the last exception the user's env raised, as shown

    def compose(self) -> ComposeResult:
        yield Static(id="frame")
        yield Static(id="readout")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.session.config.env.id} · {self.session.config.name}"
        self.show()

    def on_resize(self) -> None:
        self.call_after_refresh(self.show)

    def on_unmount(self) -> None:
        self.session.close()

    # ------------------------------------------------------------ actions
    def action_act(self, action: int) -> None:
        n = self.session.n_actions
        if action >= n:
            self.notify(f"key {action + 1}: this env has {n} actions (keys 1–{min(n, 9)})", severity="warning")
        elif self.session.done:
            self.notify("the episode is over: R starts the next one", severity="warning")
        else:
            self._guarded(self.session.step, action)

    def _guarded(self, call, *args) -> None:
        """A step or reset of the user's env that raises is shown, not fatal: playing is how one finds
        such a bug, so the window stays open and R tries a new episode."""
        try:
            call(*args)
        except Exception as e:
            self.session.view = dataclasses.replace(self.session.view, terminated=True)
            self.error = f"the environment raised {describe_exception(e)}; R starts a new episode"
            self.notify(self.error, severity="error", timeout=10)
            return
        self.show()

    def action_arrow(self, key: str) -> None:
        mapping = ARROWS.get(self.session.n_actions, {})
        if key in mapping:
            self.action_act(mapping[key])
        else:
            self.notify(
                f"{key}: no arrow mapping for {self.session.n_actions} actions; use the number keys", severity="warning"
            )

    def action_random_step(self) -> None:
        self.action_act(self.session.random_action())

    def action_reset(self) -> None:
        self._guarded(self.session.reset)

    # ------------------------------------------------------------ view
    def show(self) -> None:
        v, session = self.session.view, self.session
        frame_area = self.query_one("#frame", Static)
        if v.frame is not None:
            columns = max(8, min(frame_area.size.width or MAX_COLUMNS, MAX_COLUMNS))
            frame_area.update(to_text(fit_frame(v.frame, columns, max(4, frame_area.size.height or 20))))
        else:
            frame_area.update(Text(session.note or "", style="italic"))
        self.query_one("#readout", Static).update(readout(v, session))


def readout(v: StepView, session: PlaySession) -> Text:
    """The step's figures, one fact per line: what was done, what came back, the keys."""
    action = "reset" if v.action is None else f"action {v.action}"
    text = Text(f"episode {v.episode + 1} · reset seed {v.reset_seed} · step {v.step} · {action}\n")
    text.append("reward -" if v.action is None else f"reward {v.reward:+g}", style="bold")
    if session.config.env.clip_reward and v.agent_reward != v.reward:
        text.append(f" (the agent sees {v.agent_reward:+g})")
    text.append(f" · return {v.episode_return:g} · ")
    text.append(f"terminated {v.terminated}", style="bold red" if v.terminated else "")
    text.append(" · ")
    text.append(f"truncated {v.truncated}", style="bold yellow" if v.truncated else "")
    text.append("\nobs " + " ".join(f"{x:+.4g}" for x in np.asarray(v.observation, dtype=float).ravel()))
    if session.done:
        text.append("\nepisode over: R starts the next one", style="bold")
    n = session.n_actions
    arrows = "/".join({"left": "←", "down": "↓", "right": "→"}[k] for k in ARROWS.get(n, {}))
    keys = f"keys: 1–{min(n, 9)} act (action = key - 1){' · ' + arrows if arrows else ''} · n random · R reset · q quit"
    text.append("\n" + keys, style="dim")
    return text


def create_play_app(config: Config) -> PlayApp:
    """The app `cockpit play` runs; tests drive the same one."""
    return PlayApp(PlaySession(config))
