"""Reading a run directory's logs back into a metrics store: for viewing a finished run, for
charts that start from a resumed run's past, and for the UI's layout snapshots."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

from cockpit.engine.metrics import UPDATE_METRICS
from cockpit.engine.config import LIVE_KEYS
from cockpit.engine.metrics import MetricsStore

STATES = {"finished": "done", "stopped": "stopped", "failed": "failed"}


def _lines(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    if lines and lines[-1]:
        lines.pop()  # a live run's last line may be half-written: it is read on the next pass
    return [json.loads(line) for line in lines if line.strip()]


def load_history(run_dir: Path, store: MetricsStore | None = None) -> MetricsStore:
    """A store holding what the run directory recorded (per-update figures at their logged resolution)."""
    run_dir = Path(run_dir)
    store = store or MetricsStore()
    config = tomllib.loads((run_dir / "config.toml").read_text(encoding="utf-8"))
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    hyperparameters = {k: config["dqn"][k] for k in LIVE_KEYS}
    status: dict = {"state": "running", "step": 0, "total_steps": config["run"]["total_steps"],
                    "hyperparameters": hyperparameters, "last_eval": None, "best_eval": None}
    for record in _lines(run_dir / "metrics.jsonl"):
        step = record["step"]
        status["step"] = max(status["step"], step)
        if record["kind"] == "episode":
            store.publish({}, {"rollout/ep_return": (step, record["return"]), "rollout/ep_length": (step, record["length"])})
        elif record["kind"] == "eval":
            store.add_evaluation({k: v for k, v in record.items() if k != "kind"})
            status["last_eval"] = {k: v for k, v in record.items() if k != "kind"}
            if record["scheduled"]:
                status["best_eval"] = max(status["best_eval"] or -math.inf, record["mean"])
        elif record["kind"] == "train":
            points = {"rollout/epsilon": (step, record["epsilon"]),
                      "rollout/action_entropy": (step, record["action_entropy"]),
                      "time/steps_per_s": (step, record["steps_per_s"])}
            for name in UPDATE_METRICS:
                if name in record:
                    agg = record[name]
                    points[f"train/{name}"] = (step, agg["mean"], agg["min"], agg["max"])
            store.publish({}, points)
            status.update(epsilon=record["epsilon"], steps_per_s=record["steps_per_s"])
            if "q_bound" in record:
                status["q_bound"] = record["q_bound"]
    for event in _lines(run_dir / "events.jsonl"):
        store.add_event(event)
        if event["kind"] == "hparam":
            hyperparameters[event["key"]] = event["new"]
    if summary:
        status.update(
            state=STATES.get(summary["status"], summary["status"]), step=summary["steps"],
            elapsed_s=summary["wall_time_s"], target_return=summary.get("target_return"),
            first_step_reaching_target=summary["first_step_reaching_target"], summary=summary,
        )
    store.publish(status)
    return store
