"""K runs at a time, each a separate `cockpit PRESET --no-ui` process writing its own ordinary run
directory, with one progress display for all of them.

Separate processes rather than threads: every run gets its own interpreter, torch thread pool
and RNG state, exactly as if started by hand, and a crash takes down one seed, not the sweep.
Progress is read from each run's metrics.jsonl (the record the runs keep anyway), so nothing
but the files links the parent to its children.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from cockpit.text import clock

POLL_S = 0.25


@dataclass
class Job:
    """One run to launch, and what the launcher has learned about it since."""

    label: str
    """Short name in the display, e.g. `s3` or `t12 s1`."""
    run_dir: Path
    """The run directory the child creates (it must not exist yet)."""
    args: list[str]
    """Arguments after `cockpit`: the preset, `--seed`, `--set`s (`--no-ui --run-dir` are added)."""
    total_steps: int
    log: Path
    """The child's stdout and stderr."""
    tag: Any = None
    """Whatever the owner needs to find its own bookkeeping again (a trial, a value)."""
    proc: subprocess.Popen | None = None
    step: int = 0
    evals: list[dict] = field(default_factory=list)
    returncode: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    cancelled: bool = False
    _offset: int = 0

    @property
    def done(self) -> bool:
        return self.returncode is not None or (self.cancelled and self.proc is None)

    @property
    def seconds(self) -> float | None:
        """How long it ran; None until it has ended."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    def command(self) -> list[str]:
        return [sys.executable, "-m", "cockpit", *self.args, "--no-ui", "--run-dir", str(self.run_dir)]

    def read_progress(self) -> list[dict]:
        """New complete lines of metrics.jsonl: the step reached, and the new scheduled evaluations."""
        try:
            with open(self.run_dir / "metrics.jsonl", "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next poll
        self._offset += end
        new = []
        for line in chunk[:end].splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # damage is named when the run is read at the end (`runs.read_run`)
            if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                continue
            self.step = max(self.step, record["step"])
            if (
                record.get("kind") == "eval"
                and record.get("scheduled")
                and isinstance(record.get("mean"), (int, float))
            ):
                self.evals.append(record)
                new.append(record)
        return new


def _die_with_parent() -> None:
    """Runs in the child before exec. Its own process group keeps a terminal's Ctrl-C to the sweep,
    which then stops each run with exactly one signal (a second one means "stop now"). Linux: the
    child gets SIGTERM (a graceful stop) if the sweep process dies without cleaning
    up, so a killed sweep never leaves orphan trainings burning the cores."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Launcher:
    """Starts waiting jobs while fewer than `workers` run; `poll()` reports what changed."""

    def __init__(self, workers: int, display: Display):
        self.workers = workers
        self.display = display
        self.jobs: list[Job] = []

    def submit(self, job: Job) -> None:
        self.jobs.append(job)

    @property
    def processes(self) -> list[tuple[Job, subprocess.Popen]]:
        """The running jobs and their processes."""
        return [(j, j.proc) for j in self.jobs if j.proc is not None and j.returncode is None]

    @property
    def running(self) -> list[Job]:
        return [j for j, _ in self.processes]

    @property
    def waiting(self) -> list[Job]:
        return [j for j in self.jobs if j.proc is None and not j.cancelled]

    @property
    def free(self) -> int:
        return self.workers - len(self.running) - len(self.waiting)

    def idle(self) -> bool:
        return not self.running and not self.waiting

    def start_ready(self) -> None:
        for job in self.waiting[: max(0, self.workers - len(self.running))]:
            job.log.parent.mkdir(parents=True, exist_ok=True)
            with open(job.log, "wb") as log:
                job.proc = subprocess.Popen(
                    job.command(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    process_group=0,
                    preexec_fn=_die_with_parent,
                )
            job.started_at = time.monotonic()
            self.display.line(f"{job.label}: started → {job.run_dir}")

    def poll(self) -> tuple[list[tuple[Job, dict]], list[Job]]:
        """Start what can start, read progress; (new evaluations, jobs that just ended)."""
        self.start_ready()
        evals, ended = [], []
        for job, proc in self.processes:
            returncode = proc.poll()
            evals += [(job, record) for record in job.read_progress()]
            if returncode is not None:
                job.returncode, job.ended_at = returncode, time.monotonic()
                ended.append(job)
        for job, record in evals:
            self.display.evaluation(job, record)
        for job in ended:
            self.display.ended(job)
        self.display.refresh(self.jobs)
        return evals, ended

    def cancel(self, job: Job) -> None:
        """Stop a job: a waiting one never starts; a running one gets SIGTERM (it finishes the
        episode, checkpoints and writes its summary, as after Ctrl-C)."""
        job.cancelled = True
        if job.proc is not None and job.returncode is None:
            job.proc.send_signal(signal.SIGTERM)

    def interrupt(self) -> None:
        """Ctrl-C: stop every run gracefully and wait for them (a second Ctrl-C stops them at once)."""
        for job in self.jobs:
            if not job.done:
                self.cancel(job)
        self.display.line(f"interrupted: stopping {len(self.running)} runs (they checkpoint first)")
        for job, proc in self.processes:
            try:
                job.returncode = proc.wait()
            except KeyboardInterrupt:
                for _, other in self.processes:
                    other.send_signal(signal.SIGINT)
                job.returncode = proc.wait()
            job.read_progress()
        self.display.close()

    def run(self, jobs: list[Job]) -> list[Job]:
        """Run all jobs to their end; Ctrl-C stops them gracefully and re-raises."""
        for job in jobs:
            self.submit(job)
        try:
            while not self.idle():
                self.poll()
                time.sleep(POLL_S)
            self.poll()
        except KeyboardInterrupt:
            self.interrupt()
            raise
        self.display.close()
        return jobs


class Display:
    """One progress display for all runs. On a terminal, a block of status lines redrawn in place
    under the lines that stay (starts, ends); elsewhere (logs, tests) only those lines, plus one
    per evaluation."""

    def __init__(self, out: TextIO, title: str, total: int | None = None):
        self.out = out
        self.live = out.isatty()
        self.title = title
        self.total = total
        self.started = time.monotonic()
        self.drawn = 0
        self.last_draw = 0.0

    def line(self, text: str) -> None:
        self._clear()
        self.out.write(text + "\n")
        self.out.flush()

    def evaluation(self, job: Job, record: dict) -> None:
        if not self.live:
            self.line(f"{job.label}: eval {record['mean']:.1f} ± {record['std']:.1f} @ {record['step']:,}")

    def ended(self, job: Job) -> None:
        last = f" · final eval {job.evals[-1]['mean']:.1f}" if job.evals else ""
        how = (
            "stopped"
            if job.cancelled
            else ("finished" if job.returncode == 0 else f"FAILED (exit {job.returncode}, see {job.log})")
        )
        self.line(f"{job.label}: {how} at step {job.step:,}{last} after {clock(job.seconds)}")

    def refresh(self, jobs: list[Job], every_s: float = 0.5) -> None:
        now = time.monotonic()
        if not self.live or now - self.last_draw < every_s:
            return
        self.last_draw = now
        self._clear()
        running = [j for j in jobs if j.proc is not None and j.returncode is None]
        done = sum(j.returncode is not None for j in jobs)
        total = self.total if self.total is not None else len(jobs)
        lines = [f"{self.title} · {done}/{total} done · {len(running)} running · {clock(now - self.started)}"]
        width = max(10, self._width() - 1)
        for job in running:
            fraction = min(1.0, job.step / job.total_steps) if job.total_steps else 0.0
            bar = "█" * int(fraction * 20) + "░" * (20 - int(fraction * 20))
            last = f"eval {job.evals[-1]['mean']:.1f} @ {job.evals[-1]['step']:,}" if job.evals else "no eval yet"
            lines.append(f"  {job.label:<12} ▕{bar}▏ {job.step:>9,}/{job.total_steps:,}  {last}"[:width])
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()
        self.drawn = len(lines)

    def _width(self) -> int:
        import shutil

        return shutil.get_terminal_size().columns

    def _clear(self) -> None:
        if self.live and self.drawn:
            self.out.write(f"\x1b[{self.drawn}F\x1b[J")
            self.drawn = 0

    def close(self) -> None:
        self._clear()
        self.out.flush()
