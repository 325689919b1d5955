"""The render panel: a greedy episode drawn in half-block cells, with step, action and reward."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Static

from cockpit.ui.halfblock import fit_frame, to_shades, to_text

MAX_COLUMNS = 120
"""Wider frames cost more per frame than they show: a CartPole frame reads well at 120 columns."""


class RenderPanel(Vertical):
    DEFAULT_CSS = """
    RenderPanel { border: round $accent; height: 1fr; display: none; }
    RenderPanel.-open { display: block; }
    RenderPanel #frame { height: 1fr; content-align: center middle; }
    RenderPanel #caption { height: 2; }
    """

    def compose(self):
        yield Static(id="frame")
        yield Static(id="caption")

    def on_mount(self) -> None:
        self.border_title = "Render"

    def open(self, title: str) -> None:
        self.border_title = title
        self.add_class("-open")
        self.query_one("#frame", Static).update("")
        self.query_one("#caption", Static).update("starting…")

    def close(self) -> None:
        self.remove_class("-open")

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def frame_text(self, frame: np.ndarray) -> Text:
        """The frame in half-block cells at the frame area's size. Safe off the UI thread (it only reads
        that size): the render worker converts each frame itself, so a large frame (Atari's 210x160)
        costs the UI thread nothing but the update. Under NO_COLOR, in shades of one colour."""
        area = self.query_one("#frame", Static).size
        columns, rows = max(8, min(area.width, MAX_COLUMNS)), max(4, area.height)
        fitted = fit_frame(frame, columns, rows)
        return to_shades(fitted) if self.app.no_color else to_text(fitted)

    def show_frame(self, frame: Text, caption: str) -> None:
        self.query_one("#frame", Static).update(frame)
        self.query_one("#caption", Static).update(Text(caption))

    def finish(self, message: str) -> None:
        self.query_one("#caption", Static).update(Text(message + "\npress r or escape to close", style="bold"))
