"""The headless front end: the trainer in a worker thread, progress on stdout, signals as stop commands.

A live progress line when stdout is a terminal; one plain line every `run.log_interval` steps
when it is not (server logs). Evaluations, live changes and errors get a line of their own.
"""

from __future__ import annotations

import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from cockpit import signals as stop_signals
from cockpit.engine.config import Config
from cockpit.engine.contract import RunState
from cockpit.engine.control import Command, CommandKind, Control
from cockpit.engine.files import WriteFailed
from cockpit.engine.metrics import MetricsStore
from cockpit.text import clock, event_line, progress_line

POLL_S = 0.5


def summary_text(summary: dict, run_dir: Path) -> str:
    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.1f}"

    sps = summary.get("train_steps_per_s")
    return (
        f"{summary['status']}: {summary['steps']:,} steps in {clock(summary['wall_time_s'])}"
        f" · {sps or 0:,.0f} training steps/s · final eval {fmt(summary['final_eval_return'])}"
        f" · best eval {fmt(summary['best_eval_return'])}"
        f" · first step reaching target {summary['first_step_reaching_target'] or 'never'}"
        f" · peak RSS {summary['peak_rss_mb']:.0f} MB\nrun directory: {run_dir}"
    )


class Progress:
    """Prints progress and events from store snapshots; never touches the trainer. Not a terminal:
    one line per status the trainer logged at a `run.log_interval` boundary, so a log's lines fall
    at the same steps as metrics.jsonl's records however the reads are timed."""

    def __init__(self, out: TextIO):
        self.out = out
        self.live = out.isatty()
        self.events_seen = 0
        self.logged_seen = 0
        self.version = -1
        self.started = time.monotonic()

    def show(self, store: MetricsStore) -> None:
        snap = store.snapshot(self.version)
        if snap is None:
            return
        self.version = snap.version
        elapsed = time.monotonic() - self.started
        events = unseen(snap.events, snap.event_count - self.events_seen)
        self.events_seen = snap.event_count
        if self.live:
            for event in events:
                self._print(event_line(event))
            width = shutil.get_terminal_size().columns - 1
            self.out.write("\r" + progress_line(snap.status, elapsed, width))
            self.out.flush()
            return
        lines = [(e.step, 1, event_line(e)) for e in events]
        for status in unseen(snap.logged, snap.logged_count - self.logged_seen):
            at = elapsed if status.elapsed_s is None else status.elapsed_s
            lines.append((status.step, 0, progress_line(status, at, None)))
        self.logged_seen = snap.logged_count
        for _, _, line in sorted(lines, key=lambda item: (item[0], item[1])):  # by step; at one step, progress first
            self._print(line)
        self.out.flush()

    def _print(self, line: str | None) -> None:
        if not line:
            return
        prefix = "\r\x1b[2K" if self.live else ""
        self.out.write(prefix + line + "\n")

    def close(self) -> None:
        if self.live:
            self.out.write("\n")
        self.out.flush()


def unseen(items: list, new: int) -> list:
    """The last `new` of `items` (all that are kept, if more were added since the last read)."""
    return items[-new:] if new > 0 else []


def listen(run_dir: Path, config: Config, control: Control, store: MetricsStore, out: TextIO):
    """The control socket `cockpit attach` and `cockpit ctl` connect to; None (said on `out`) if it cannot be had.
    While a viewer watches, NaN pauses the run instead of stopping it (unless the preset chose): the
    control surface tells the trainer."""
    from cockpit.remote.server import ControlServer, ServerError

    server = ControlServer(
        run_dir,
        config,
        control,
        store,
        report=lambda line: out.write(line + "\n"),
        on_watchers=lambda count: control.set_watched(count > 0),
    )
    try:
        server.start()
    except ServerError as e:
        out.write(f"cockpit: not listening for control ({e}); the run goes on\n")
        return None
    out.write(
        f"cockpit: steer this run from another terminal: cockpit attach {run_dir} · cockpit ctl {run_dir} pause|eval|...\n"
    )
    return server


def run_headless(
    config: Config,
    run_dir: Path,
    checkpoint: Path | None = None,
    fork: bool = False,
    changes=(),
    out: TextIO | None = None,
) -> int:
    """Train to the end or to a graceful stop. Exit code: 0 finished or stopped by command,
    130 / 143 / 129 stopped by SIGINT / SIGTERM / SIGHUP, 1 failed."""
    from cockpit.engine.trainer import Trainer

    out = out or sys.stdout  # looked up now: a caller (or a test) may have replaced it
    control, store = Control(), MetricsStore()
    trainer = Trainer(config, run_dir, control=control, store=store, changes=changes)
    if checkpoint is not None:
        meta = trainer.resume_from(checkpoint, fork=fork)
        verb = "forked from" if fork else "resuming from"
        exact = "" if meta["exact"] else " (inexact: taken mid-episode)"
        out.write(f"cockpit: {verb} {checkpoint} at step {meta['step']:,}{exact}\n")
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(trainer.run()), name="trainer", daemon=True)
    signals: list[int] = []

    def on_signal(signum: int) -> None:
        # First signal: finish the episode, checkpoint, stop. Second: checkpoint now (inexact).
        signals.append(signum)
        now = "now" if len(signals) > 1 else None
        control.submit(Command(CommandKind.STOP, value=now, source=signal.Signals(signum).name))

    restore_signals = stop_signals.install(on_signal)
    progress = Progress(out)
    if checkpoint is None or fork:
        out.write(f"cockpit: training {config.env.id} ({config.name}, seed {config.run.seed}) → {run_dir}\n")
    try:  # the run's files before control.json: a viewer that finds the socket finds config.toml too
        trainer.open_log()
    except WriteFailed:
        pass  # the run reports it when it starts, as it reports any write that fails
    server = listen(run_dir, config, control, store, out)
    try:
        worker.start()
        while worker.is_alive():
            worker.join(POLL_S)
            progress.show(store)
        progress.show(store)
    finally:
        restore_signals()
        if server is not None:
            server.close()
        progress.close()
    out.write(summary_text(result, run_dir) + "\n")
    if trainer.last_checkpoint:
        out.write(f"last checkpoint: {trainer.last_checkpoint}\n")
    status = RunState.parse(result.get("status"))
    if status == RunState.STOPPED and signals:
        return 128 + signals[0]
    return 0 if status in (RunState.FINISHED, RunState.STOPPED) else 1
