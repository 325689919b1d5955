"""`?`: the keys, and the order in which to debug a run, with what healthy charts look like."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# Keys
| key | action |
|---|---|
| `space` | pause / resume training |
| `e` | greedy evaluation now (its own env and seeds; training is not perturbed) |
| `c` | checkpoint at the end of the current episode |
| `r` | render a greedy episode of the current policy beside the return chart (saved as a GIF in the run directory) |
| `v` | during a render below 120×36: the selected chart in its place, or the render again |
| `h` | adjust one hyperparameter (applied at the next step, recorded) |
| `m` | mute the kind of the latest alert, or show it again (still counted in `summary.json`) |
| `1`–`6` | select a chart (the compact layout shows the selected one) |
| `f` | maximize the selected chart; `f` or `escape` restores |
| `w` | every chart's window: whole run, last 10K steps, last 100K steps |
| `l` | log-scale y (on every chart whose values are all above 0) |
| `a` | smoothing: a moving average, the raw figures faint beneath |
| `b` | pick a finished run as the baseline to beat (drawn faint on the return chart) |
| `s` | save an SVG screenshot in the run directory's `screenshots/` |
| `q` | quit: stops the run gracefully (episode end, checkpoint, summary); attached (`cockpit attach`), only detaches |
| `S` | attached only: stop the headless run gracefully (asks first) |
| `ctrl+p` | command palette: the same actions |

# Reading the charts
All charts share one window of env steps, ending at the newest step. Each names what it draws on
its bottom border. **● with a thin line**: a greedy evaluation and its ± std (○: one asked for
with `e`). **Faint band**: the min–max of each interval behind its mean. **Yellow rule**: a live
change. **Grey rule**: a checkpoint. **Red line**: the target return, or the Q bounds. **Faint
grey line and dots**: the baseline's evaluations and training returns. **✕** along the top: a NaN
or infinite figure (never drawn).

# When a run misbehaves, look in this order
1. **Reward**: is the signal what you think? `cockpit check PRESET` measures it under a random policy.
   *Healthy*: training returns on the Return chart rise above the random level after warm-up.
2. **Environment**: do actions do what you think, do episodes end for the right reason?
   *Healthy*: Episode length varies with the policy; terminations and truncations both occur where expected.
3. **Learning basics**: can the network fit at all?
   *Healthy*: Loss falls after warm-up and stays bounded; gradient norm is steady with rare spikes;
   Q magnitude grows then settles **between the red lines**: the range any return can take,
   [min(r_min, 0), max(r_max, 0)]/(1-γ).
4. **Exploration**: does the agent try everything?
   *Healthy*: Epsilon decays to its end well before the run ends; returns keep improving after it does.
5. **Hyperparameters**: only then, one at a time (`h`), watching the change marker and the 10-episode
   before/after returns in the events pane.
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; height: 90%; border: thick $accent; background: $surface; }
    """
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(HELP)

    def action_close(self) -> None:
        self.dismiss(None)
