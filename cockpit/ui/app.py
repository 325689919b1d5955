"""The cockpit: live charts, status and events of one run, steered from the keyboard.

The trainer runs in a Textual thread worker; the app only sends commands through the control
surface and reads the metrics store on a timer (at most twice a second), so its cost is bounded
whatever the training speed. Replies from the trainer thread arrive as posted messages: the
trainer never waits for the UI.

Attached (`cockpit attach`), the same app steers a run in another process: the control and store
are remote ones, `q` detaches and leaves the run going, and `S` stops the run (after asking).

SIGINT, SIGTERM, SIGHUP and ctrl+c mean what they mean headless: the run stops gracefully (a second
one checkpoints at once); attached, the viewer detaches and the run goes on.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Container
from textual.filter import LineFilter, Monochrome, NoColor
from textual.geometry import Size
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker, WorkerState, get_current_worker

from cockpit import signals
from cockpit.engine.config import ConfigError
from cockpit.engine.contract import Event, Reply, RunState
from cockpit.engine.control import Command, CommandKind, ControlSurface
from cockpit.engine.metrics import MetricsStore, Snapshot
from cockpit.remote.client import RemoteStore
from cockpit.text import reply_text, short_path
from cockpit.ui.baseline import Baseline, standing
from cockpit.ui.chart_view import ChartView
from cockpit.ui.screens.confirm import Confirm
from cockpit.ui.screens.hparam_dialog import HyperparameterDialog
from cockpit.ui.widgets.chart_grid import ChartGrid
from cockpit.ui.widgets.events_pane import EventsPane
from cockpit.ui.widgets.metric_chart import CHARTS, MetricChart
from cockpit.ui.widgets.render_panel import RenderPanel
from cockpit.ui.widgets.status_strip import StatusStrip

REFRESH_S = 1.0
"""How often the UI reads the store. Every tick holds the GIL the trainer needs (the status strip and
events pane re-render, charts within chart_grid.CHART_SHARE), so the period trades freshness for
training speed (bench/ui_overhead.py measures it). Replies to keys refresh at once."""
FIRST_DATA_POLL_S = 0.1
COMPACT_BELOW = (120, 36)
"""Terminal sizes (columns, rows) below which one chart is shown at a time."""
QUIT_TIMEOUT_S = 40.0
"""A graceful stop waits for the episode to end (at most 30 s in the trainer); then the app exits anyway."""
RENDER_ONLY = ("switch_render",)
"""Actions that mean something only while the render panel is open in the compact layout."""
STEERING = ("pause_run", "resume_run", "evaluate", "checkpoint", "render", "hyperparameter", "mute_alert", "stop_run")
"""Actions that need a run to act on."""
TOAST_S = 6.0
"""How long a key's answer stays as a toast: long enough to read at any training speed."""
RENDER_FPS = 30
"""Env steps a second of a render, and frames a second of its GIF."""
SHOWN_EVERY = 2
"""A render draws every SHOWN_EVERY-th step (and the last), in the panel and its GIF: each frame drawn holds
the GIL the trainer needs (the env's renderer, the conversion in the render worker, the layout on the UI
thread), and fifteen frames a second still show the motion (bench/render_overhead.py measures the cost)."""


class TrainerReply(Message):
    """A command's reply, posted from the trainer thread (thread-safe, never blocks it)."""

    def __init__(self, kind: str, reply: Reply):
        super().__init__()
        self.kind = kind
        self.reply = reply


class CockpitApp(App):
    CSS_PATH = "cockpit.tcss"
    TITLE = "cockpit"
    BINDINGS = [
        Binding("space", "pause_run", "Pause", id="pause", tooltip="Pause training at the next step"),
        Binding("space", "resume_run", "Resume", id="resume", tooltip="Resume training"),
        Binding("e", "evaluate", "Evaluate", id="evaluate", tooltip="Greedy evaluation now"),
        Binding("c", "checkpoint", "Checkpoint", id="checkpoint", tooltip="Checkpoint at the end of this episode"),
        Binding("r", "render", "Render", id="render", tooltip="Play a greedy episode of the current policy"),
        Binding("h", "hyperparameter", "Hyperparameter", id="hyperparameter", tooltip="Adjust one hyperparameter"),
        Binding("question_mark", "help", "Help", id="help", tooltip="Keys and the debugging order"),
        Binding("q", "quit_run", "Quit", id="quit", tooltip="Stop the run gracefully and quit"),
        Binding("q", "detach", "Detach", id="detach", tooltip="Close this view; the run goes on"),
        Binding(
            "S",
            "stop_run",
            "Stop run",
            id="stop",
            tooltip="Stop the run gracefully (end of episode, checkpoint, summary)",
        ),
        Binding(
            "m",
            "mute_alert",
            "Mute alert",
            id="mute",
            show=False,
            tooltip="Mute (or show again) the kind of the latest alert; muted alerts are still counted",
        ),
        Binding("escape", "go_back", "Back", show=False, tooltip="Close the render, or restore a maximized chart"),
        Binding(
            "v",
            "switch_render",
            "Render/chart",
            id="switch",
            show=False,
            tooltip="In the compact layout, during a render: show the selected chart, or the render again",
        ),
        Binding(
            "f",
            "maximize_chart",
            "Maximize chart",
            id="maximize",
            show=False,
            tooltip="Fill the screen with the selected chart (1-6 select; f or escape restores)",
        ),
        Binding(
            "s",
            "save_screenshot",
            "Screenshot",
            id="screenshot",
            show=False,
            tooltip="Save an SVG screenshot of the cockpit in the run directory's screenshots/",
        ),
        Binding(
            "ctrl+c",
            "interrupt",
            "Interrupt",
            show=False,
            priority=True,
            id="interrupt",
            tooltip="As SIGINT: stop the run gracefully and quit (attached: detach)",
        ),
        *[Binding(str(i + 1), f"show_chart({i})", spec.title, show=False) for i, spec in enumerate(CHARTS)],
        Binding(
            "w",
            "chart_window",
            "Charts: next window",
            id="window",
            show=False,
            tooltip="Every chart: the whole run, the last 10K or the last 100K steps",
        ),
        Binding(
            "l", "log_scale", "Charts: log scale", id="log", show=False, tooltip="Every chart's y axis: log or linear"
        ),
        Binding(
            "a",
            "smoothing",
            "Charts: smoothing",
            id="smooth",
            show=False,
            tooltip="Every chart: a moving average, the raw figures faint beneath",
        ),
        Binding(
            "b",
            "pick_baseline",
            "Baseline run",
            id="baseline",
            show=False,
            tooltip="Draw a finished run's evaluations and returns on the return chart, to beat (or none)",
        ),
    ]
    IN_PALETTE = ("mute", "window", "log", "smooth", "baseline", "switch")
    """Bindings kept out of the footer (it has no room) but offered in the command palette."""

    def __init__(
        self,
        title: str,
        control: ControlSurface | None,
        store: MetricsStore,
        make_trainer: Callable[[], Any] | None = None,
        run_dir: Path | None = None,
        render_episode: Callable | None = None,
        refresh_s: float = REFRESH_S,
        attached: bool = False,
        notice: str | None = None,
        baseline: Baseline | None = None,
    ):
        """`make_trainer` builds the trainer in the worker thread (None: show the store only, e.g. a
        recorded history); `render_episode(policy, seed)` yields RenderedStep frames. `attached`: the
        run is in another process, steered through `control` (None: its history, read-only);
        `notice` is written in the events pane at the start; `baseline` is drawn on the return chart."""
        super().__init__()
        self.run_title = title
        self.control = control
        self.store = store
        self.make_trainer = make_trainer
        self.run_dir = Path(run_dir) if run_dir else None
        self.render_episode = render_episode
        self.refresh_s = refresh_s
        self.version = -1
        self.events_seen = 0
        self.baseline = baseline
        self.snapshot: Snapshot | None = None
        self.main_screen: Screen | None = None  # set at mount: the screen with the charts
        self.first_data_shown = False  # the first figures have been drawn: the app looks at its usual pace
        self.end_drawn = False  # the charts have drawn the run's last figures once it ended
        self.selected_chart = 0
        self.compact = False  # one chart at a time (below COMPACT_BELOW)
        self.state_override: str | None = None
        self.quit_requested_at: float | None = None
        self.summary: dict | None = None
        self.refused: ConfigError | None = None  # the trainer could not be built (a checkpoint's tensors)
        self.renders = 0
        self.render_worker: Worker | None = None
        self.trainer_worker: Worker | None = None
        self.trainer_started = asyncio.Event()  # set once the worker exists (after the first frame)
        self.attached = attached
        self.notice = notice
        self.signals: list[int] = []  # SIGINT, SIGTERM, SIGHUP (ctrl+c counts as SIGINT) received, in order
        self._restore_signals: Callable[[], None] | None = None
        self._no_color = NoColor()

    def get_line_filters(self) -> list[LineFilter]:
        """Under NO_COLOR no colour at all, as the convention asks: Textual draws a truecolor terminal
        in greys instead, which still writes colour codes."""
        filters = list(super().get_line_filters())
        if self.no_color:
            filters = [self._no_color if isinstance(f, Monochrome) else f for f in filters]
        return filters

    # ------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield StatusStrip(self.run_title, id="status")
        with Container(id="main"):
            yield ChartGrid(id="charts")
            yield RenderPanel(id="render")
        yield EventsPane(id="events")
        yield Footer()

    def on_mount(self) -> None:
        # References, not queries: while a modal screen is on top, queries search that screen.
        self.status_strip = self.query_one(StatusStrip)
        self.events_pane = self.query_one(EventsPane)
        self.render_panel = self.query_one(RenderPanel)
        self.charts = list(self.query(MetricChart))
        self.chart_area = self.query_one(ChartGrid)
        self.chart_area.baseline = self.baseline
        self.footer = self.query_one(Footer)
        self.main_screen = self.screen
        self._apply_layout()
        self._handle_signals()
        self.set_interval(self.refresh_s, self.refresh_view)
        # Until the first figures arrive (torch's import, the env, warm-up), look often: the first
        # live chart should not wait a whole tick.
        self._first_data = self.set_interval(FIRST_DATA_POLL_S, self._refresh_until_data)
        self.refresh_view()
        if self.notice:
            self.events_pane.note(self.notice, style="bold")
        if self.make_trainer is not None:
            # After the first frame: building the trainer imports torch, a second of GIL time.
            self.call_after_refresh(self._start_trainer)

    def _start_trainer(self) -> None:
        self.trainer_worker = self.run_worker(self._train, name="trainer", thread=True, exit_on_error=False)
        self.trainer_started.set()

    def on_resize(self, event: events.Resize) -> None:
        self._apply_layout(event.size)

    def _handle_signals(self) -> None:
        """Signals handed to the app's loop: unhandled, SIGINT would cancel the app at once (an
        inexact checkpoint, exit 0), and SIGTERM and SIGHUP would kill the process with no checkpoint
        and the terminal in raw mode. A Python-level handler, not the loop's: it runs even while the
        loop waits on a blocked write. Only the main thread may install one (an app run in a thread
        leaves the signals to its host)."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()

        def on_signal(signum: int) -> None:
            loop.call_soon_threadsafe(self.interrupt, signum)

        self._restore_signals = signals.install(on_signal)

    def interrupt(self, signum: int) -> None:
        """A signal (or ctrl+c, as SIGINT): stop this process's run gracefully and exit once it has
        ended (a second one checkpoints at once, inexact); attached, or with no run going, exit now."""
        self.signals.append(signum)
        source = signal.Signals(signum).name
        if self.attached or self.make_trainer is None or self.run_state.ended:
            self.exit(return_code=128 + self.signals[0])
        elif len(self.signals) > 1 or self.quit_requested_at is not None:
            self.steering.submit(Command(CommandKind.STOP, value="now", source=source))
        else:
            self.quit_requested_at = time.monotonic()
            self.state_override = "stopping"
            self.steering.submit(Command(CommandKind.STOP, source=source))
            self.events_pane.note(
                f"{source}: stopping at the end of this episode (checkpoint, summary); again to checkpoint at once",
                style="bold",
            )
            self.refresh_view()

    def action_interrupt(self) -> None:
        self.interrupt(signal.SIGINT)

    def on_unmount(self) -> None:
        if self._restore_signals is not None:
            self._restore_signals()
            self._restore_signals = None
        # Leaving by any way other than `q` (ctrl+q, a test's end): stop the trainer at its next step
        # with an immediate checkpoint, so the process never waits on a worker thread at exit.
        if self.make_trainer is not None and not self.run_state.ended:
            self.steering.submit(Command(CommandKind.STOP, value="now", source="ui-exit"))
        if self.attached and self.control is not None:
            self.control.close()  # detach: the run goes on

    def _apply_layout(self, size: Size | None = None) -> None:
        """One chart at a time below COMPACT_BELOW. The class goes on the cockpit's own screen, not on
        `self.screen`, which is a dialog's while one is open; the size is the resize event's, as
        `self.size` may still be the old one when it arrives."""
        if self.main_screen is None:  # a resize before the first mount: on_mount lays it out
            return
        width, height = size or self.size
        compact = width < COMPACT_BELOW[0] or height < COMPACT_BELOW[1]
        if compact != self.compact:
            self.version = -1  # the charts now shown draw at once, at their new size
        self.compact = compact
        self.main_screen.set_class(compact, "-compact")
        self.render_panel.border_subtitle = (
            "v: the chart instead · r or escape: close" if compact else "r or escape: close"
        )
        self.refresh_bindings()  # `v` exists only in the compact layout
        footer = self.footer
        footer.compact = compact
        footer.show_command_palette = not compact  # ctrl+p still opens it; the keys need the room

    # ------------------------------------------------------------ the run
    def _train(self) -> dict:
        assert self.make_trainer is not None  # the worker starts only with one
        return self.make_trainer().run()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name == "trainer":
            if event.state == WorkerState.SUCCESS:
                self.summary = event.worker.result
                self._finished()
            elif event.state == WorkerState.ERROR:
                error = event.worker.error
                if isinstance(error, ConfigError):  # refused before the run started: the CLI says why, exit 2
                    self.refused = error
                    self.exit(return_code=2)
                    return
                self.store.update_status(state=RunState.FAILED, error=str(error))
                message = f"{type(error).__name__}: {error}"
                self.store.add_event(Event("error", self.store.status.step, time.time(), {"message": message}))
                self._finished()

    def _finished(self) -> None:
        self.state_override = None
        self.refresh_view()
        if self.quit_requested_at is not None:
            self.exit()
            return
        if self.summary:
            s = self.summary
            target = s.get("first_step_reaching_target")
            self.events_pane.note(
                f"run {s['status']}: final eval {_fmt(s.get('final_eval_return'))} · best eval "
                f"{_fmt(s.get('best_eval_return'))} · target reached at "
                f"{'step ' + format(target, ',') if target is not None else 'no step'} · press q to quit",
                style="bold",
            )

    @property
    def run_state(self) -> RunState:
        return self.store.status.state

    @property
    def shown_state(self) -> str | None:
        """A state of this front end's own, shown instead of the run's: a render playing, a stop on its
        way, or (attached) a connection lost or never made."""
        if self.state_override:
            return self.state_override
        return self.store.connection_state if isinstance(self.store, RemoteStore) else None

    # ------------------------------------------------------------ refresh
    def _refresh_until_data(self) -> None:
        if self.store.status.step > 0 or self.run_state.ended:
            self._first_data.stop()
            self.first_data_shown = True
            self.version = -1  # draw every chart with its first figures now
        self.refresh_view()

    def refresh_view(self) -> None:
        forced = self.version == -1  # a chart switch or the render panel closing: redraw now
        snap = self.store.snapshot(self.version)
        if self.quit_requested_at and time.monotonic() - self.quit_requested_at > QUIT_TIMEOUT_S:
            self.exit()
        if snap is not None:
            self.version = snap.version
            before = self.snapshot.status.state if self.snapshot else None
            if before != snap.status.state:  # paused/running name the space key; an ended run has none
                self.refresh_bindings()
            self.snapshot = snap
            self._show_status(snap)
            new = snap.event_count - self.events_seen
            self.events_pane.add_events(snap.events[-new:] if 0 < new <= len(snap.events) else [])
            self.events_seen = snap.event_count
        # Charts behind the latest snapshot catch up on a later tick, new figures or not (a paused or
        # ended run publishes none): all of them at once, within their budget of drawing time. During
        # a render the charts beside it go on (hidden ones are skipped). The budget protects training's
        # share of the CPU: the tick that first sees the run ended draws its end at once.
        if self.snapshot is not None and self.chart_area.display:
            end = self.snapshot.status.state.ended and not self.end_drawn
            self.chart_area.redraw(self.snapshot, forced or end)
            self.end_drawn = self.end_drawn or end

    def _show_status(self, snap: Snapshot) -> None:
        grid = self.chart_area
        self.status_strip.show(
            snap.status, self.shown_state, grid.view.describe(), standing(grid.baseline, snap.evaluations)
        )

    def on_trainer_reply(self, message: TrainerReply) -> None:
        """The answer to a key, in the events pane and as a toast that stays while the pane scrolls on."""
        reply = message.reply
        if not reply.ok:
            self.events_pane.note(f"{message.kind} refused: {reply.error}", style="yellow")
            self.notify(f"{message.kind} refused: {reply.error}", severity="warning", timeout=TOAST_S)
            if message.kind == "policy":
                self.action_close_render()
        elif message.kind == "policy":
            self._play(dict(reply.data))
        elif (text := reply_text(message.kind, reply)) is not None:
            self.notify(text, timeout=TOAST_S)
        self.refresh_view()

    def _send(self, future: Future, kind: str) -> None:
        future.add_done_callback(lambda f: self.post_message(TrainerReply(kind, f.result())))

    # ------------------------------------------------------------ actions
    @property
    def steering(self) -> ControlSurface:
        """The control, where keys may act on the run (a run of this process, or attached and connected)."""
        assert self.control is not None  # no key that acts on the run is offered without one
        return self.control

    @property
    def steerable(self) -> bool:
        if self.attached:
            return self.control is not None and self.control.connected
        return self.make_trainer is not None

    def _live(self) -> bool:
        if self.run_state.ended or not self.steerable:
            read_only = "read-only: " if self.attached else ""
            self.notify(f"{read_only}the run is {self.run_state}: nothing to control", severity="warning")
            return False
        return True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`q` quits a run of this process, detaches from another's; `S` exists when attached. Keys that
        act on the run are offered only while it can act on them (not once it ended, nor read-only):
        the footer shows nothing that would not happen."""
        if action in STEERING and (self.run_state.ended or not self.steerable):
            return False
        if action in ("detach", "stop_run"):
            return self.attached
        if action == "quit_run":
            return not self.attached
        if action == "maximize_chart" and self.render_panel.is_open:
            return False
        if action in RENDER_ONLY:
            return self.render_panel.is_open and self.compact
        if action in ("pause_run", "resume_run"):  # one key; the footer names what it will do
            return (self.run_state == RunState.PAUSED) == (action == "resume_run")
        return True

    def action_pause_run(self) -> None:
        if self._live():
            self._send(self.steering.pause("ui"), "pause")

    def action_resume_run(self) -> None:
        if self._live():
            self._send(self.steering.resume("ui"), "resume")

    def action_evaluate(self) -> None:
        if self._live():
            self._send(self.steering.evaluate("ui"), "evaluate")

    def action_checkpoint(self) -> None:
        if self._live():
            self._send(self.steering.checkpoint("ui"), "checkpoint")

    def action_render(self) -> None:
        panel = self.render_panel
        if panel.is_open:
            self.action_close_render()
        elif self.render_episode is None:
            self.notify("rendering is not available here", severity="warning")
        elif self._live():
            panel.open("Render: asking the trainer for its current weights…")
            self._set_rendering(True)
            self.state_override = "rendering"
            self._send(self.steering.policy("ui"), "policy")

    def action_go_back(self) -> None:
        if self.render_panel.is_open:
            self.action_close_render()
        elif self.main_screen is not None and self.main_screen.maximized is not None:
            self.main_screen.minimize()

    def action_maximize_chart(self) -> None:
        screen = self.main_screen
        assert screen is not None  # set at mount, before any key
        if screen.maximized is not None:
            screen.minimize()
            return
        chart = self.charts[self.selected_chart]
        screen.maximize(chart, container=False)
        self.version = -1  # drawn at its new size with the latest figures
        self.call_after_refresh(self.refresh_view)

    def action_save_screenshot(self) -> None:
        folder = (self.run_dir or Path.cwd()) / "screenshots"
        step = self.store.status.step
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = self.save_screenshot(f"cockpit-step-{step:09d}-{time.strftime('%Y%m%d-%H%M%S')}.svg", str(folder))
        except OSError as e:
            self.notify(f"screenshot not saved: {folder} ({e.strerror})", severity="error", timeout=TOAST_S)
            return
        self.notify(f"screenshot: {short_path(path)}", timeout=TOAST_S)

    def action_close_render(self) -> None:
        panel = self.render_panel
        if panel.is_open:
            self.workers.cancel_group(self, "render")
            panel.close()
            self._set_rendering(False)
            self.state_override = None
            self.version = -1
            self.refresh_view()

    def _set_rendering(self, on: bool) -> None:
        """The render beside the return chart (large layout) or in the chart's place (compact, where
        `v` switches between them); the status strip and events stay in view either way."""
        screen = self.main_screen
        assert screen is not None  # set at mount, before any key
        if on and screen.maximized is not None:
            screen.minimize()
        screen.set_class(on, "-rendering")
        screen.remove_class("-chart-over-render")
        self.refresh_bindings()

    def action_switch_render(self) -> None:
        screen = self.main_screen
        assert screen is not None  # set at mount, before any key
        screen.toggle_class("-chart-over-render")
        if screen.has_class("-chart-over-render"):
            self.notify("the render plays on behind the chart: v shows it again", timeout=TOAST_S)
        self.version = -1
        self.call_after_refresh(self.refresh_view)

    def action_hyperparameter(self) -> None:
        if not self._live():
            return
        status = self.store.current().status

        def submit(key, value):
            future = self.steering.set(key, value, source="ui")
            if future.done() and not future.result().ok:
                return future.result().to_dict()
            self._send(future, "set")
            self.events_pane.note(f"requested {key} = {value}: applied at the next step")
            return None

        pending = self.steering.pending_change
        shown = None if pending is None else pending.to_dict()
        self.push_screen(HyperparameterDialog(dict(status.hyperparameters), shown, submit))

    def action_help(self) -> None:
        from cockpit.ui.screens.help import (
            HelpScreen,
        )  # Textual's Markdown: an import the first frame need not wait for

        self.push_screen(HelpScreen())

    def action_show_chart(self, index: int) -> None:
        self.selected_chart = index
        for i, chart in enumerate(self.charts):
            chart.set_class(i == index, "-selected")
        self.version = -1
        self.call_after_refresh(self.refresh_view)

    # ------------------------------------------------------------ chart view
    def _view_changed(self, view: ChartView, message: str) -> None:
        """Every chart redrawn at once with the new view, named in the status strip and a toast."""
        self.chart_area.view = view
        self.notify(message, timeout=TOAST_S)
        self.version = -1
        self.refresh_view()

    def action_chart_window(self) -> None:
        view = self.chart_area.view.next_window()
        self._view_changed(view, f"charts: {view.window_label}")

    def action_log_scale(self) -> None:
        view = replace(self.chart_area.view, log=not self.chart_area.view.log)
        self._view_changed(view, "charts: log-scale y (where every value is > 0)" if view.log else "charts: linear y")

    def action_smoothing(self) -> None:
        view = replace(self.chart_area.view, smooth=not self.chart_area.view.smooth)
        self._view_changed(view, "charts: smoothed, raw figures faint" if view.smooth else "charts: raw figures")

    def action_pick_baseline(self) -> None:
        from cockpit.ui.screens.baseline_picker import BaselinePicker, Picked

        if isinstance(self.screen, BaselinePicker):
            return

        def picked(choice: Picked | None) -> None:
            if choice is not None:
                self.set_baseline(choice.baseline)

        root = self.run_dir.parent if self.run_dir is not None else Path("runs")
        self.push_screen(BaselinePicker(root, exclude=self.run_dir, current=self.baseline), picked)

    def set_baseline(self, baseline: Baseline | None) -> None:
        self.baseline = self.chart_area.baseline = baseline
        self.notify("no baseline" if baseline is None else f"baseline: {baseline.label}", timeout=TOAST_S)
        self.version = -1
        self.refresh_view()

    def action_quit_run(self) -> None:
        if self.quit_requested_at is not None:
            return
        if self.make_trainer is None or self.run_state.ended:
            self.exit()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.quit_requested_at = time.monotonic()
                self.state_override = "stopping"
                self.steering.stop("ui")
                self.refresh_view()

        self.push_screen(
            Confirm("The run is not done. Stop it (end of episode, checkpoint, summary) and quit?"), answered
        )

    def action_detach(self) -> None:
        self.exit()

    def action_stop_run(self) -> None:
        if not self._live():
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._send(self.steering.stop("ui"), "stop")
                self.events_pane.note("stop requested: the run ends its episode, checkpoints and writes its summary")

        self.push_screen(
            Confirm("Stop the run (end of episode, checkpoint, summary)? Other viewers see it end too."), answered
        )

    def action_mute_alert(self, kind: str | None = None) -> None:
        """Mute the kind of the latest alert (or `kind`), or show it again if it is muted."""
        if not self._live():
            return
        if kind is None:
            alerts = [e for e in self.store.current().events if e.kind == "alert" and not e.get("fatal")]
            if not alerts:
                self.notify("no alert to mute yet", severity="warning")
                return
            kind = alerts[-1].get("name")
        muted = kind in self.store.status.muted_alerts
        self._send(self.steering.mute(kind, muted=not muted, source="ui"), "unmute" if muted else "mute")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            if not isinstance(binding, Binding):
                continue
            if (binding.show or binding.id in self.IN_PALETTE) and self.check_action(binding.action, ()):
                yield SystemCommand(binding.description, binding.tooltip, lambda a=binding.action: self.run_action(a))
        for kind in self.store.status.muted_alerts:
            yield SystemCommand(
                f"Show alert {kind} again", "Unmute this kind of alert", lambda k=kind: self.action_mute_alert(k)
            )

    # ------------------------------------------------------------ render
    def _play(self, policy: dict) -> None:
        self.renders += 1
        self.render_worker = self._render_worker(policy, self.renders)

    @work(thread=True, group="render", exclusive=True)
    def _render_worker(self, policy: dict, number: int) -> None:
        from cockpit.engine.recording import save_gif
        from cockpit.engine.rendering import EpisodeFrames

        assert self.render_episode is not None  # a render starts only with one
        frames = EpisodeFrames()
        panel = self.render_panel
        title = f"Render: greedy episode of the policy at step {policy['step']:,}"
        self.call_from_thread(panel.open, title)
        previous = 0  # frames come every SHOWN_EVERY steps here, every step from an attached run
        for shown in self.render_episode(policy, number):
            if shown.step % SHOWN_EVERY == 0 or shown.done:
                frames.add(shown.frame)
                caption = (
                    f"step {shown.step} · action {shown.action if shown.action is not None else '-'} · "
                    f"reward {shown.reward:g} · return {shown.episode_return:g}"
                )
                self.call_from_thread(panel.show_frame, panel.frame_text(shown.frame), caption)
            time.sleep(max(1, shown.step - previous) / RENDER_FPS)  # the episode plays at RENDER_FPS steps a second
            previous = shown.step
            if get_current_worker().is_cancelled:
                return
        message = f"episode over: return {shown.episode_return:g} in {shown.step} steps"
        if self.run_dir is not None:
            gif = self.run_dir / "renders" / f"step-{policy['step']:09d}-{number}.gif"
            path = save_gif(frames.frames, gif, fps=frames.fps(RENDER_FPS // SHOWN_EVERY))
            message += f" · saved {path}"
        self.call_from_thread(panel.finish, message)
        self.call_from_thread(setattr, self, "state_override", None)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"
