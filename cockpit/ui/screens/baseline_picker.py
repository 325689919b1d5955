"""The `b` dialog: pick an ended run from the runs folder as the baseline to beat (or none).

The runs are listed as `cockpit ls` finds them, newest first; the one picked is read in a thread
(a long run's logs take a moment), and one that does not read back is named in a toast while the
dialog stays open for another choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from cockpit.engine.config import ConfigError
from cockpit.text import short_path
from cockpit.ui.baseline import Baseline, EndedRun, ended_runs, load_baseline

TOAST_S = 6.0


@dataclass(frozen=True)
class Picked:
    """The choice: a run to draw, or None for no baseline."""

    baseline: Baseline | None


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


class BaselinePicker(ModalScreen[Picked | None]):
    """Dismissed with the choice, or None when cancelled."""

    DEFAULT_CSS = """
    BaselinePicker { align: center middle; }
    BaselinePicker > Vertical { width: 90%; max-width: 120; height: auto; max-height: 90%; border: thick $accent;
        padding: 0 1; background: $surface; }
    BaselinePicker DataTable { height: auto; max-height: 20; }
    BaselinePicker Label { width: 100%; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("n", "no_baseline", "No baseline")]

    def __init__(self, root: Path, exclude: Path | None = None, current: Baseline | None = None):
        super().__init__()
        self.root = Path(root)
        self.rows: list[EndedRun] = ended_runs(self.root, exclude)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]Baseline[/b]: an ended run under {short_path(str(self.root))} to draw on the return chart")
            table: DataTable = DataTable(cursor_type="row", id="runs")
            table.add_columns("run", "state", "steps", "final eval", "best eval")
            for row in self.rows:
                steps = "?" if row.steps is None else f"{row.steps:,}"
                table.add_row(row.run_dir.name, row.status, steps, _figure(row.final_eval), _figure(row.best_eval))
            yield table
            current = "none" if self.current is None else self.current.label
            shown = "" if self.rows else f"no ended runs under {short_path(str(self.root))} · "
            yield Label(f"{shown}now: {current} · [b]enter[/b] draw · [b]n[/b] no baseline · [b]escape[/b] cancel")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        row = self.rows[event.cursor_row]
        if row.problem is not None:
            self.notify(f"not drawn: {row.problem}", severity="error", timeout=TOAST_S)
            return
        self.load(row.run_dir)

    @work(thread=True, exclusive=True, group="baseline")
    def load(self, run_dir: Path) -> None:
        try:
            baseline = load_baseline(run_dir)
        except ConfigError as e:
            self.app.call_from_thread(self.notify, f"not drawn: {e}", severity="error", timeout=TOAST_S)
            return
        self.app.call_from_thread(self.dismiss, Picked(baseline))

    def action_no_baseline(self) -> None:
        self.dismiss(Picked(None))

    def action_cancel(self) -> None:
        self.dismiss(None)
