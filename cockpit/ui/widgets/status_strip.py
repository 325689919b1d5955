"""The two status lines: run, state, progress, speed and the charts' window; live hyperparameters,
evaluations and the standing against a baseline run.

Parts are dropped whole, least important first, when the terminal is narrow: nothing is cut
mid-word and numbers keep their units.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from cockpit.engine.contract import RunStatus
from cockpit.text import clock, eta_s, number, training
from cockpit.ui.baseline import Standing

STATE_STYLES = {
    "running": "bold green",
    "paused": "bold yellow",
    "evaluating": "bold cyan",
    "rendering": "bold cyan",
    "stopping": "bold yellow",
    "finished": "bold blue",
    "stopped": "bold blue",
    "failed": "bold red",
    "created": "dim",
    "loading": "dim",
    "dead": "bold red",
    "damaged": "bold red",
}
HPARAM_LABELS = (
    ("learning_rate", "lr"),
    ("gamma", "γ"),
    ("epsilon_end", "ε_end"),
    ("epsilon_decay", "ε_decay"),
    ("batch_size", "batch"),
    ("target_update", "target"),
    ("train_freq", "train_freq"),
    ("gradient_steps", "grad_steps"),
    ("max_grad_norm", "clip"),
)


def _fit(parts: list[tuple[float, Text]], width: int, sep: str = "  ") -> Text:
    """Join parts (priority, text) in order, dropping the lowest priorities until the line fits."""
    kept = [part for part in parts if part[1].cell_len]
    while kept and sum(p.cell_len for _, p in kept) + len(sep) * (len(kept) - 1) > width:
        kept.remove(min(kept, key=lambda item: item[0]))
    return Text(sep).join(p for _, p in kept)


def _bar(fraction: float, width: int) -> str:
    filled = int(max(0.0, min(1.0, fraction)) * width)
    return "▕" + "█" * filled + "░" * (width - filled) + "▏"


def _standing(standing: Standing) -> Text:
    margin = standing.margin
    word, style = ("ahead of", "bold green") if margin >= 0 else ("behind", "bold red")
    whose = "baseline's last" if standing.past_its_end else "baseline"
    return Text(f"{'▲' if margin >= 0 else '▼'} {abs(margin):.1f} {word} {whose}", style=style)


def _value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class StatusStrip(Static):
    DEFAULT_CSS = """
    StatusStrip { height: 2; padding: 0 1; }
    """

    def __init__(self, title: str, **kwargs):
        super().__init__(**kwargs)
        self.title_text = title
        self.status: RunStatus | None = None
        self.shown_state = ""
        self.view = ""
        self.standing: Standing | None = None

    def show(
        self, status: RunStatus, state_override: str | None = None, view: str = "", standing: Standing | None = None
    ) -> None:
        """`state_override`: a state of the front end's own (a render playing, a stop on its way);
        `view`: the charts' window and options; `standing`: the run against its baseline."""
        self.status = status
        self.shown_state = state_override or status.state.value
        self.view, self.standing = view, standing
        self.update(self._render_lines(self._width()))

    def on_resize(self) -> None:
        if self.status is not None:
            self.update(self._render_lines(self._width()))

    def _width(self) -> int:
        """Columns for text; before the first layout the widget has no size yet: use the screen's."""
        return max(20, (self.size.width or self.app.size.width) - 2)

    def _render_lines(self, width: int) -> Text:
        s = self.status or RunStatus()
        state = self.shown_state
        step, total = s.step, s.total_steps or 1
        sps = s.steps_per_s  # None where the status was published between chunks (an evaluation starting)
        line1 = _fit(
            [
                (3, Text(self.title_text, style="bold")),
                (9, Text(f"● {state.upper()}", style=STATE_STYLES.get(state, "bold"))),
                (8, Text(f"{step:,} / {total:,}")),
                (2, Text(_bar(step / total, 20))),
                (7, Text(f"{step / total:.0%}")),
                (5, Text(f"{sps:,.0f} steps/s" if training(state) and sps is not None else "")),
                (4, Text(f"{clock(s.elapsed_s)} · ETA {clock(eta_s(s))}")),
                (3.5, Text(self.view, style="dim")),
            ],
            width,
        )
        hp = s.hyperparameters
        pending = s.pending_change
        last = s.last_eval
        changed = s.last_changed  # the one a person just touched outranks the others
        parts = [
            (8.5 if key == changed else 6 - i * 0.1, Text(f"{label} {_value(hp[key])}"))
            for i, (key, label) in enumerate(HPARAM_LABELS)
            if key in hp
        ]
        parts.insert(2, (6.5, Text(f"ε {s.epsilon or 0:.3f}")))
        if pending:
            parts.insert(0, (10, Text(f"pending {pending.key}={_value(pending.value)}", style="yellow")))
        if last:
            parts.append((9, Text(f"last eval {last.mean:.1f} ± {last.std:.1f} @ {last.step:,}")))
        if s.best_eval is not None:
            parts.append((8, Text(f"best {number(s.best_eval)}")))
        if self.standing is not None:
            parts.append((8.2, _standing(self.standing)))
        if s.first_step_reaching_target is not None:
            parts.append((7.5, Text(f"solved @ {s.first_step_reaching_target:,}", style="green")))
        line2 = _fit(parts, width, sep=" · ")
        return Text("\n").join([line1, line2])
