"""The end of a run: its summary (summary.json, what scripts and the multi-seed tools read), the
last events, unanswered requests refused, and the run log closed where the disk allows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cockpit.engine.alerts import LABELS
from cockpit.engine.contract import RunState
from cockpit.engine.control import reply
from cockpit.engine.files import WriteFailed
from cockpit.engine.runlog import peak_rss_mb

if TYPE_CHECKING:
    from cockpit.engine.trainer import Trainer


def summarize(t: Trainer, status: str, wall: float) -> dict:
    p = t.progress
    return {
        "status": status,
        "steps": p.step,
        "episodes": p.episode,
        "wall_time_s": wall,
        "train_steps_per_s": p.step / max(p.train_time_s, 1e-9) if p.train_time_s else None,
        "eval_time_s": p.eval_time_s,
        "final_eval_return": p.last_eval.mean if p.last_eval else None,
        "best_eval_return": p.best_eval_or_none,
        "first_step_reaching_target": p.first_step_reaching_target,
        "target_return": t.info.target_return,
        "peak_rss_mb": peak_rss_mb(),
        "alerts": dict(sorted(t.health.counts.items())),
        "error": t.error,
    }


def finish(t: Trainer, summary: dict) -> None:
    t.state = RunState(summary["status"])
    for kind, (count, first) in t.health.folded().items():  # what the budget held back, told once
        t.event(
            "alert",
            best_effort=True,
            name=kind,
            fatal=False,
            message=f"+{count} more {LABELS.get(kind, kind)} since step {first:,}, not shown one by one",
        )
    t.event(
        "end", best_effort=True, **{k: summary[k] for k in ("status", "steps", "final_eval_return", "best_eval_return")}
    )
    if t.error and not summary["error"]:  # the end event found the disk full
        summary.update(status="failed", error=t.error)
        t.state = RunState.FAILED
    t.store.publish(t.status().replace(summary=summary, error=summary["error"]))
    unanswered = [f for _, f in t.control.drain()] + t.commands.unanswered()
    for future in unanswered:
        future.set_result(reply(False, error=f"the run has ended ({summary['status']})"))
    if t.log:
        try:
            t.log.close()
        except WriteFailed as e:
            summary["error"] = summary["error"] or str(e)
        except Exception as e:  # TensorBoard's writer, made at the first flush, can fail as late as this
            summary["error"] = summary["error"] or f"TensorBoard: {type(e).__name__}: {e}"
        try:
            t.log.write_summary(summary)
        except WriteFailed as e:  # the disk is still full: the summary reaches the front end only
            summary["error"] = f"{summary['error'] or 'the run ended'}; summary.json not written: {e}"
    t.close()
