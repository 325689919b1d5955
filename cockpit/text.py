"""How figures and events read as text, the same in every front end (headless lines, the UI's
events pane and status strip)."""

from __future__ import annotations

import math
import os

from cockpit.engine.contract import Evaluation, Event, Reply, RunState, RunStatus

FRONT_END_TRAINING = ("rendering", "stopping")
"""States a front end shows of its own (a render playing, a stop on its way) while the run trains."""


def training(shown: str) -> bool:
    """Whether a state shown (the run's, or a front end's own) is one in which a steps/s figure is
    true; paused, loading or ended, there is none."""
    return shown in FRONT_END_TRAINING or RunState.parse(shown).training


def clock(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    return f"{h}:{rem // 60:02d}:{rem % 60:02d}" if h else f"{rem // 60:02d}:{rem % 60:02d}"


def eta_s(status: RunStatus) -> float | None:
    """Seconds left at the last chunk's pace; none while no steps are being taken (paused, waiting
    for the network while torch loads, ended)."""
    sps = status.steps_per_s
    if not sps or not status.state.training:
        return None
    return (status.total_steps - status.step) / sps


def eval_text(evaluation: Evaluation | None) -> str:
    if not evaluation:
        return "no eval yet"
    return f"eval {evaluation.mean:.1f} ± {evaluation.std:.1f} @ {evaluation.step:,}"


def short_path(path: str) -> str:
    """Relative to the working directory when under it (runs/…), else as given."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def number(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def event_parts(event: Event) -> tuple[str, str] | None:
    """(tag, detail) of an event worth showing to a person; None for bookkeeping ones."""
    kind, fields = event.kind, event.fields
    if kind == "eval":
        tag = "eval" if fields.get("scheduled") else "eval*"
        return tag, f"{fields['mean']:.1f} ± {fields['std']:.1f} ({len(fields['returns'])} episodes)"
    if kind == "hparam":
        before = (
            f" · return 10 eps before {number(fields['return_before'])}"
            if fields.get("return_before") is not None
            else ""
        )
        numbered = f"#{fields['number']} " if fields.get("number") else ""
        rollback = f" · roll back: {fields['rollback']}" if fields.get("rollback") else ""
        return "hparam", f"{numbered}{fields['key']} {fields['old']} → {fields['new']}{before}{rollback}"
    if kind == "hparam_effect":
        return "hparam", (
            f"{fields['key']} = {fields['value']} (at {fields['changed_at']:,}): return 10 eps "
            f"before {number(fields['return_before'])} · after {number(fields['return_after'])}"
        )
    if kind == "checkpoint_requested":
        return "ckpt", "requested: taken at the end of this episode"
    if kind == "checkpoint":
        if fields.get("at_end"):  # a run that reached its total steps: --resume --total-steps goes on
            return "ckpt", f"end of run {short_path(fields['path'])}"
        exact = "" if fields.get("exact", True) else " (inexact: taken mid-episode)"
        return "ckpt", f"{fields['checkpoint']} {short_path(fields['path'])}{exact}"
    if kind == "alert":
        return ("✗ alert" if fields.get("fatal") else "⚠ alert"), fields["message"]
    if kind == "alert_mute":
        return (
            "alert",
            f"{fields['alert']} {'muted' if fields['muted'] else 'shown again'} by {fields.get('source', '?')}",
        )
    if kind == "checkpoint_skipped":
        return "ckpt", fields["message"]
    if kind == "error":
        return "✗ error", fields["message"]
    if kind in ("pause", "resume"):
        return kind, f"by {fields.get('source', '?')}" + (f": {fields['message']}" if fields.get("message") else "")
    if kind == "stop":
        return "stop", f"by {fields.get('source', '?')}: " + (
            "checkpoint now" if fields.get("immediate") else "finishing the episode"
        )
    if kind == "resumed":
        return "resumed", f"from {fields['checkpoint']} at step {fields['from_step']:,}"
    if kind == "end":
        return "end", (
            f"{fields['status']} at step {fields['steps']:,} · final eval {number(fields['final_eval_return'])}"
            f" · best {number(fields['best_eval_return'])}"
        )
    if kind == "warning":
        return "⚠ warning", fields["message"]
    return None


def reply_text(kind: str, answer: Reply) -> str | None:
    """A command's answer (`kind` as in `Command`), as `ctl` prints it and the cockpit's toast shows it;
    None where there is nothing to say beyond the events pane."""
    reply = answer.data
    step = f"step {reply.get('step', 0):,}"
    if kind == "evaluate":
        return f"eval at {step}: {reply['mean']:.2f} ± {reply['std']:.2f} over {len(reply['returns'])} episodes"
    if kind == "checkpoint":
        return f"checkpoint at {step}: {reply['path']}" + ("" if reply.get("exact", True) else " (inexact)")
    if kind == "set":
        numbered = f"change #{reply['number']}: " if reply.get("number") else ""
        rollback = f"\nroll back: {reply['rollback']}" if reply.get("rollback") else ""
        return f"{numbered}{reply['key']} {reply['old']} → {reply['new']} at {step}{rollback}"
    if kind == "stop":
        return f"stopping at {step}: {reply.get('message', '')}"
    if kind in ("mute", "unmute"):
        return f"alert {reply['alert']} {'muted' if reply['muted'] else 'shown again'} at {step} (still counted in summary.json)"
    if kind in ("pause", "resume"):
        return f"{reply.get('state', kind)} at {step}"
    return None


def event_line(event: Event) -> str | None:
    parts = event_parts(event)
    return None if parts is None else f"{event.step:>9,}  {parts[0]:<7} {parts[1]}"


def progress_line(status: RunStatus, elapsed: float, width: int | None) -> str:
    step, total = status.step, status.total_steps
    sps = status.steps_per_s or 0.0
    fraction = step / total if total else 0.0
    head = f"{status.state.value:>9}  {step:,}/{total:,}"
    speed = f"{sps:,.0f} steps/s · " if status.state.training else ""  # none while loading, paused or ended
    tail = f"{fraction:4.0%} · {speed}{clock(elapsed)} · ETA {clock(eta_s(status))} · {eval_text(status.last_eval)}"
    if width is None:
        return f"{head} · {tail} · ε {status.epsilon or 0:.3f}"
    bar_width = max(0, min(30, width - len(head) - len(tail) - 4))
    filled = int(fraction * bar_width)
    bar = f" ▕{'█' * filled}{'░' * (bar_width - filled)}▏ " if bar_width >= 5 else " "
    return (head + bar + tail)[:width]
