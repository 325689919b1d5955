"""The events pane: evaluations, checkpoints, live changes and their effect, alerts, errors."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from cockpit.engine.contract import Event
from cockpit.text import event_parts

TAG_STYLES = {
    "eval": "cyan",
    "eval*": "cyan",
    "ckpt": "magenta",
    "hparam": "green",
    "⚠ alert": "yellow",
    "✗ alert": "bold red",
    "✗ error": "bold red",
    "end": "blue",
    "stop": "yellow",
}


class EventsPane(RichLog):
    DEFAULT_CSS = """
    EventsPane { height: 8; border: round $panel; overflow-x: hidden; }
    """

    def __init__(self, **kwargs):
        # min_width: RichLog renders lines at least 78 cells wide by default, which an 80-column
        # screen's pane (76 inside its border and scrollbar) cuts mid-number.
        super().__init__(wrap=True, markup=False, highlight=False, min_width=20, **kwargs)
        self.border_title = "Events"
        self.seen = 0

    def add_events(self, events: list[Event]) -> None:
        for event in events:
            self.add_line(event)

    def add_line(self, event: Event) -> None:
        parts = event_parts(event)
        if parts is None:
            return
        tag, detail = parts
        line = Text(f"{event.step:>9,}  ")
        line.append(f"{tag:<7}", style=TAG_STYLES.get(tag, "bold"))
        line.append(f" {detail}")
        self.write(line)

    def note(self, message: str, style: str = "") -> None:
        """A line from the UI itself (e.g. a refused change), not from the run."""
        self.write(Text(f"{'':>9}  ") + Text(message, style=style))
