"""The run directory: resolved config, metadata, metrics and events as JSON lines, TensorBoard, summary.

Layout of `runs/<env>-<preset>-s<seed>-<time>/`:
    config.toml      the resolved config (preset + overrides)
    metadata.json    package versions, code version, command line, host, threads, compute path
    metrics.jsonl    one line per episode, per evaluation, and per `log_interval` steps of
                     aggregated update figures (mean/min/max): a million-step run stays small
    timing.jsonl     the wall-clock figures (steps/s) of the `log_interval` records, apart: the
                     records of metrics.jsonl are the same in every run of the seed
    events.jsonl     evaluations, live changes (with the step they took effect), checkpoints, alerts
    tb/              TensorBoard event files, hyperparameters included
    summary.json     written when the run ends: what scripts and the multi-seed tools read
"""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from cockpit.engine.config import Config, ConfigError, to_toml
from cockpit.engine.files import write_atomic, write_failed, write_json_atomic

PACKAGES = ("cockpit", "torch", "gymnasium", "numpy", "tensorboard")


def clean_json(obj: Any) -> Any:
    """NaN and inf are not JSON: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    return obj


def default_run_dir(config: Config, root: Path = Path("runs")) -> Path:
    """Named for the env trained first, then the preset (`from-<preset>` once env.id was overridden:
    the preset no longer describes the run), the seed and the start time."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    env = config.env.id.split(":")[-1].replace("/", "-")
    return root / f"{env}-{config.name}-s{config.run.seed}-{stamp}"


def create_run_dir(path: Path) -> Path:
    """Create the directory exclusively: an existing one is refused, never overwritten. Its path must
    be UTF-8, since it is written into the run's metadata and read back by every command."""
    path = Path(path)
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(
            f"--run-dir {os.fsencode(path)!r}: the path is not valid UTF-8 (expected a UTF-8 path)"
        ) from None
    if path.exists():
        raise ConfigError(f"--run-dir {path}: already exists (expected a new directory; runs are never overwritten)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir()
    except FileExistsError:
        raise ConfigError(f"--run-dir {path}: already exists (expected a new directory)") from None
    except OSError as e:
        raise ConfigError(f"--run-dir {path}: cannot create ({e.strerror}) (expected a new directory)") from None
    return path


def code_version() -> dict:
    """The git commit of cockpit's source and whether it had uncommitted changes, where known."""
    src = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return {"git_commit": None, "git_dirty": None}
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return {"git_commit": commit.stdout.strip(), "git_dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.TimeoutExpired):
        return {"git_commit": None, "git_dirty": None}


def package_versions() -> dict:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _truncate_lines(path: Path, keep: int | None) -> int:
    """Cut a JSON-lines file back to its first `keep` whole lines (all of them with None), atomically;
    a line cut off mid-write is never kept, so that what is appended next starts a line of its own.
    Returns the count kept."""
    from cockpit.engine.history import whole_lines

    lines = whole_lines(path)[0][:keep]
    write_atomic(path, b"".join(line + b"\n" for line in lines))
    return len(lines)


def lock_run_dir(path: Path, claim: bool = True):
    """Hold an exclusive lock on the run directory for this process's life; refuse if another holds it,
    or if the directory cannot be written (read-only: a run could not checkpoint), writing nothing.
    `claim=False` leaves the lock file's text (who holds it) for `claim_lock`, once a resume has
    checked the directory: a refused resume writes nothing at all."""
    import fcntl
    import tempfile

    try:
        handle = open(Path(path) / ".lock", "a+")
    except OSError as e:
        raise ConfigError(
            f"{path}: cannot lock the run directory ({e.strerror}: {e.filename}) (expected a writable run directory)"
        ) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ConfigError(
            f"{path}: in use by a running cockpit ({holder}); two processes never write to one run directory"
        ) from None
    try:  # a probe, since permission bits do not stop root and a read-only mount stops everyone
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=path)
    except OSError as e:
        handle.close()
        raise ConfigError(
            f"{path}: cannot write in the run directory ({e.strerror}) (expected a writable run directory)"
        ) from None
    os.close(fd)
    os.unlink(probe)
    if claim:
        claim_lock(handle)
    return handle


def claim_lock(handle, text: str | None = None) -> str:
    """Write this process (or `text`: a refused resume putting back what it found) into a held lock,
    for `cockpit ls` and a second process's refusal to name; returns what it held before."""
    handle.seek(0)
    previous = handle.read()
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n" if text is None else text)
    handle.flush()
    return previous


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


_QUIET_HOOKS: set = set()
"""The hooks `quiet_tensorboard_threads` installed (it installs one once)."""


def quiet_tensorboard_threads() -> None:
    """TensorBoard writes from a thread of its own; when a write fails (a full disk) the thread dies
    printing a traceback, and the writer raises the same error at its next call, where the run ends
    with one line. Only the thread's printout goes; every other thread's failure prints as before."""
    previous = threading.excepthook
    if previous in _QUIET_HOOKS:
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if not type(args.thread).__module__.startswith("tensorboard."):
            previous(args)

    _QUIET_HOOKS.add(hook)
    threading.excepthook = hook


class RunLog:
    """Appends metrics and events to the run directory; every write also feeds TensorBoard."""

    def __init__(self, path: Path, config: Config, extra_metadata: dict, resume_at: dict | None = None):
        """A new run's log, or with `resume_at` (a checkpoint's step and log line counts) the old one cut
        back to that checkpoint, so that the continued run's logs read as if never interrupted."""
        self.path = Path(path)
        self.lines = {"metrics": 0, "events": 0, "timing": 0}
        if resume_at is not None:  # the CLI has checked that the lines kept are whole records
            counts = resume_at.get("log_lines") or {}
            self.lines = {name: _truncate_lines(self.path / f"{name}.jsonl", counts.get(name)) for name in self.lines}
        self.metrics = open(self.path / "metrics.jsonl", "a", encoding="utf-8")
        self.events = open(self.path / "events.jsonl", "a", encoding="utf-8")
        self.timings = open(self.path / "timing.jsonl", "a", encoding="utf-8")
        self._purge_step = resume_at["from_step"] + 1 if resume_at else None
        self._hparams_of = config if resume_at is None else None
        self._tb: Any = None  # torch's SummaryWriter, made at the first flush
        self._scalars: list[tuple[str, float, int]] = []
        self._last_flush = time.monotonic()
        write_atomic(self.path / "config.toml", to_toml(config))  # on a resume, total_steps may have grown
        if resume_at is None:
            meta = {
                "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "command": sys.argv,
                "host": socket.gethostname(),
                "platform": platform.platform(),
                "pid": os.getpid(),
                "packages": package_versions(),
                **code_version(),
                **extra_metadata,
            }
            write_json_atomic(self.path / "metadata.json", clean_json(meta))
        else:
            (self.path / "summary.json").unlink(missing_ok=True)  # the run is live again, not ended

    @property
    def tb(self):
        """TensorBoard's writer, made at the first flush: its import is torch's, which a new run's first
        steps do not wait for."""
        if self._tb is None:
            from cockpit.engine import torch_side

            torch_side.load(tensorboard=True)
            from torch.utils.tensorboard import SummaryWriter

            quiet_tensorboard_threads()

            self._tb = SummaryWriter(str(self.path / "tb"), purge_step=self._purge_step, flush_secs=30)
            if self._hparams_of is not None:
                self._write_hparams(self._hparams_of)
        return self._tb

    def _write_hparams(self, config: Config) -> None:
        from torch.utils.tensorboard.summary import hparams

        flat = {}
        for table, values in config.to_dict().items():
            for key, value in values.items():
                if isinstance(value, (dict, list)):
                    value = json.dumps(value)
                if isinstance(value, float) and not math.isfinite(value):
                    value = str(value)
                flat[f"{table}.{key}"] = value
        for summary in hparams(flat, {"eval/mean_return": 0.0}):
            self.tb.file_writer.add_summary(summary)
        self.tb.add_text("config", "```\n" + to_toml(config) + "\n```", 0)

    def metric(self, record: dict) -> None:
        self._append(self.metrics, "metrics", record)

    def timing(self, record: dict) -> None:
        self._append(self.timings, "timing", record)

    def _append(self, file, name: str, record: dict) -> None:
        try:
            file.write(json.dumps(clean_json(record)) + "\n")
        except OSError as e:
            raise write_failed(self.path / f"{name}.jsonl", e) from None
        self.lines[name] += 1

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Queued for the next flush: every `add_scalar` wakes TensorBoard's writer thread, which then
        takes the GIL from the training loop; a burst every few seconds wakes it about once."""
        self._scalars.extend(
            (key, value, step) for key, value in values.items() if value is not None and math.isfinite(value)
        )

    def event(self, record: dict) -> None:
        try:
            self.events.write(json.dumps(clean_json(record)) + "\n")
            self.events.flush()
        except OSError as e:
            raise write_failed(self.path / "events.jsonl", e) from None
        self.lines["events"] += 1

    def amend_metadata(self, **fields: Any) -> None:
        """metadata.json with `fields` set: what a run learns after it started (the agent's compute path)."""
        path = self.path / "metadata.json"
        meta = json.loads(path.read_text(encoding="utf-8"))
        write_json_atomic(path, clean_json({**meta, **fields}))

    def line_counts(self) -> dict[str, int]:
        """Lines written so far: what a resume from a checkpoint taken now keeps."""
        return dict(self.lines)

    def maybe_flush(self, every_s: float = 2.0) -> None:
        now = time.monotonic()
        if now - self._last_flush >= every_s:
            self.flush()
            self._last_flush = now

    def flush(self) -> None:
        for name, file in (
            ("metrics.jsonl", self.metrics),
            ("events.jsonl", self.events),
            ("timing.jsonl", self.timings),
        ):
            try:
                file.flush()
            except OSError as e:
                raise write_failed(self.path / name, e) from None
        try:
            for key, value, step in self._scalars:
                self.tb.add_scalar(key, value, step)
        except OSError as e:  # raised again from TensorBoard's writer thread
            raise write_failed(self.path / "tb", e) from None
        self._scalars.clear()

    def write_summary(self, summary: dict) -> None:
        write_json_atomic(self.path / "summary.json", clean_json(summary))

    def close(self) -> None:
        """Also TensorBoard's: its writer is made here at the latest (a short run still gets its
        hparams). The JSON-lines files are closed whatever TensorBoard does."""
        try:
            self.flush()
            try:
                self.tb.close()
            except OSError as e:
                raise write_failed(self.path / "tb", e) from None
        finally:
            for file in (self.metrics, self.events, self.timings):
                try:
                    file.close()
                except OSError:  # what a full disk did not take is lost; flush above has said so
                    pass
