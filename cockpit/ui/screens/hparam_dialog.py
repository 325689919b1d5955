"""The `h` dialog: pick one live hyperparameter, type a value, see it validated before it is sent.

The trainer applies it at its next step boundary. One change at a time: while one is pending the
dialog says so and sends nothing.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option


def parse_value(text: str) -> Any:
    """A typed value as TOML (1e-3, 64, true), as `--set` reads it."""
    try:
        return tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


class HyperparameterDialog(ModalScreen[dict | None]):
    """Dismissed with the trainer's reply future's first answer, or None when cancelled."""

    DEFAULT_CSS = """
    HyperparameterDialog { align: center middle; }
    HyperparameterDialog > Vertical { width: 64; height: auto; max-height: 22; border: thick $accent; padding: 0 1; background: $surface; }
    HyperparameterDialog OptionList { height: auto; max-height: 11; }
    HyperparameterDialog Label { width: 100%; }
    HyperparameterDialog #message { color: $warning; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, values: dict[str, Any], pending: dict | None, submit: Callable[[str, Any], dict | None]):
        """`submit(key, value)` sends the change and returns a refusal reply, or None when accepted."""
        super().__init__()
        self.values = values
        self.pending = pending
        self.submit = submit
        self.key: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Adjust one hyperparameter: applied at the next step, recorded")
            yield OptionList(*[Option(f"{k:<16} {v}", id=k) for k, v in self.values.items()], id="keys")
            yield Input(placeholder="new value, e.g. 1e-4", id="value", disabled=True)
            yield Label(self._pending_text(), id="message")

    def _pending_text(self) -> str:
        if self.pending:
            return f"a change is pending: {self.pending['key']} = {self.pending['value']}; wait for it to apply"
        return "pick one with ↑↓ and enter; escape cancels"

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.key = str(event.option.id)
        field = self.query_one("#value", Input)
        field.disabled = False
        field.value = str(self.values[self.key])
        field.placeholder = f"new value for {self.key}"
        field.focus()
        self.query_one("#message", Label).update(f"{self.key}: type a value and press enter")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.key is None:
            return
        refusal = self.submit(self.key, parse_value(event.value))
        if refusal is not None:
            self.query_one("#message", Label).update(f"refused: {refusal['error']}")
            return
        self.dismiss({"key": self.key, "value": event.value})

    def action_cancel(self) -> None:
        self.dismiss(None)
