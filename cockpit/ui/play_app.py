"""`cockpit play`: act in the preset's environment from the keyboard, one step per key.

The second rung of the debugging hierarchy: seeing that each action does what you think and that
the reward arrives when you expect it. Frames are drawn in half-block cells, as in the cockpit's
render panel; an env without rgb_array rendering shows its observations only. Episodes start from
the training run's own reset seeds (episode k of play is episode k of training). A game that names
its actions (Atari's `get_action_meanings`) is played by those names, on keys listed on screen.
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
from cockpit.engine.atari import action_meanings
from cockpit.engine.config import Config
from cockpit.engine.envs import describe_exception, make_env, raw_return_so_far
from cockpit.ui.halfblock import fit_frame, to_text

ACTION_KEYS = "1234567890abcdefgh"
"""The key of action i: digits, then letters, as far as ALE's full set of 18 actions."""
ARROWS = {2: {"left": 0, "right": 1}, 3: {"left": 0, "down": 1, "right": 2}}
"""Arrow keys, for envs whose actions have no names, at the action counts where left/right (and
down for 'neither') fit the usual action order: CartPole's push left/right, Acrobot's and
MountainCar's -1/0/+1. Larger action sets follow no common order, so they get their keys only."""
NAMED_KEYS = {"up": "UP", "down": "DOWN", "left": "LEFT", "right": "RIGHT", "space": "FIRE"}
"""Keys for the actions a game names: the arrows for its directions, space for FIRE."""
GLYPHS = {"up": "↑", "down": "↓", "left": "←", "right": "→", "space": "space"}
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
        self.meanings = action_meanings(self.env)
        self.direction_keys = named_keys(self.meanings) if self.meanings else ARROWS.get(self.n_actions, {})
        """The arrow and space keys this env's actions have, and the action of each."""
        self.frame_stack = config.env.frame_stack
        self.previous_observation: np.ndarray | None = None
        """The observation before the last step (None after a reset)."""
        self.env.action_space.seed(seeding.derive(config.run.seed, seeding.ACTIONS))
        self.episode = 0
        self.view = self.reset(first=True)

    def reset(self, first: bool = False) -> StepView:
        """A new episode from the next training reset seed."""
        if not first:
            self.episode += 1
        reset_seed = seeding.derive(self.config.run.seed, seeding.TRAIN_RESET, self.episode)
        obs, _ = self.env.reset(seed=reset_seed)
        self.previous_observation = None
        self.view = StepView(self.episode, reset_seed, 0, None, 0.0, 0.0, 0.0, False, False, obs, self._frame())
        return self.view

    @property
    def done(self) -> bool:
        return self.view.terminated or self.view.truncated

    def step(self, action: int) -> StepView:
        obs, agent_reward, terminated, truncated, _ = self.env.step(action)
        episode_return = raw_return_so_far(self.env)
        v = self.view
        self.previous_observation = np.asarray(v.observation)
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
        *[Binding(key, f"act({i})", f"Action {i}", show=False) for i, key in enumerate(ACTION_KEYS)],
        *[Binding(key, f"direction('{key}')", GLYPHS[key], show=False) for key in GLYPHS],
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
            self.notify(
                f"key {ACTION_KEYS[action]}: this env has {n} actions (keys {key_range(n)})", severity="warning"
            )
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

    def action_direction(self, key: str) -> None:
        mapping = self.session.direction_keys
        if key in mapping:
            self.action_act(mapping[key])
        elif self.session.meanings:
            self.notify(f"{key}: no action of this game is {NAMED_KEYS[key]}; see the keys below", severity="warning")
        else:
            self.notify(
                f"{key}: no arrow mapping for {self.session.n_actions} actions; use keys {key_range(self.session.n_actions)}",
                severity="warning",
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


def named_keys(meanings: tuple[str, ...]) -> dict[str, int]:
    """The arrow and space keys of a game's named actions: left plays LEFT, space FIRE."""
    return {key: meanings.index(name) for key, name in NAMED_KEYS.items() if name in meanings}


def key_range(n: int) -> str:
    """The keys of n actions: '1–6', or '1–9, 0, a–h' for ALE's full set."""
    keys = ACTION_KEYS[:n]
    parts = [f"1–{keys[min(n, 9) - 1]}" if n > 1 else "1"]
    if n >= 10:
        parts.append("0")
    if n >= 11:
        parts.append(f"a–{keys[-1]}" if n > 11 else "a")
    return ", ".join(parts)


def key_legend(session: PlaySession) -> str:
    """Which key does what: each named action's key and name, or the key range and the arrows."""
    n, extra = session.n_actions, "n random · R reset · q quit"
    directions = " · ".join(
        f"{GLYPHS[key]} {session.meanings[action] if session.meanings else action}"
        for key, action in session.direction_keys.items()
    )
    if session.meanings:
        named = " · ".join(f"{ACTION_KEYS[i]} {name}" for i, name in enumerate(session.meanings[:n]))
        return f"keys: {named}{' · ' + directions if directions else ''} · {extra}"
    arrows = "/".join(GLYPHS[key] for key in session.direction_keys)
    return f"keys: {key_range(n)} act (action = key - 1){' · ' + arrows if arrows else ''} · {extra}"


def observation_line(v: StepView, previous: np.ndarray | None, frame_stack: int) -> str:
    """A vector observation's numbers; an image's shape, pixel range and the share of the newest
    frame's pixels that changed in the step (an image has too many numbers to print)."""
    obs = np.asarray(v.observation)
    if obs.ndim < 2:
        return "obs " + " ".join(f"{x:+.4g}" for x in obs.astype(float).ravel())
    line = f"obs {tuple(obs.shape)} {obs.dtype} · pixels {obs.min()}–{obs.max()}"
    if previous is not None and previous.shape == obs.shape:
        newest = obs.shape[0] // frame_stack if obs.ndim == 3 else obs.shape[0]
        changed = float(np.mean(obs[-newest:] != previous[-newest:]))
        line += f" · {changed:.1%} of the newest frame's pixels changed"
    return line


def readout(v: StepView, session: PlaySession) -> Text:
    """The step's figures, one fact per line: what was done, what came back, the keys."""
    action = "reset" if v.action is None else f"action {v.action}"
    if v.action is not None and session.meanings:
        action += f" ({session.meanings[v.action]})"
    text = Text(f"episode {v.episode + 1} · reset seed {v.reset_seed} · step {v.step} · {action}\n")
    text.append("reward -" if v.action is None else f"reward {v.reward:+g}", style="bold")
    if session.config.env.clip_reward and v.agent_reward != v.reward:
        text.append(f" (the agent sees {v.agent_reward:+g})")
    text.append(f" · return {v.episode_return:g} · ")
    text.append(f"terminated {v.terminated}", style="bold red" if v.terminated else "")
    text.append(" · ")
    text.append(f"truncated {v.truncated}", style="bold yellow" if v.truncated else "")
    text.append("\n" + observation_line(v, session.previous_observation, session.frame_stack))
    if session.done:
        text.append("\nepisode over: R starts the next one", style="bold")
    text.append("\n" + key_legend(session), style="dim")
    return text


def create_play_app(config: Config) -> PlayApp:
    """The app `cockpit play` runs; tests drive the same one."""
    return PlayApp(PlaySession(config))
