"""Reading a run directory's files back: into a metrics store (for viewing a finished run, for charts
that start from a resumed run's past, and for the UI's layout snapshots), and checked, for every
command that reads a run. A damaged file is bad input: a `ConfigError` naming the file (and line)."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

from cockpit.engine.checkpoints import FULL_NAMED
from cockpit.engine.config import LIVE_KEYS, ConfigError, build_config
from cockpit.engine.config_values import is_int, is_number
from cockpit.engine.contract import Evaluation, Event, RunState, RunStatus
from cockpit.engine.metrics import UPDATE_METRICS, MetricsStore

STATES = tuple(state.value for state in RunState if state.ended)
"""What summary.json says of how a run ended."""
RECORD_NUMBERS = {
    "episode": ("return", "length"),
    "eval": ("mean", "std"),
    "train": ("epsilon", "action_entropy"),
}
"""The figures each kind of metrics record must hold (null where a non-finite one was logged); runs
from before timing.jsonl also hold their train records' steps_per_s."""
SUMMARY_FIELDS = {
    "steps": "count",
    "episodes": "count",
    "wall_time_s": "number",
    "train_steps_per_s": "number?",
    "eval_time_s": "number",
    "final_eval_return": "number?",
    "best_eval_return": "number?",
    "first_step_reaching_target": "count?",
    "target_return": "number?",
    "peak_rss_mb": "number?",
}


def _fits(value, kind: str) -> bool:
    if kind.endswith("?") and value is None:
        return True
    kind = kind.rstrip("?")
    return is_int(value) and value >= 0 if kind == "count" else is_number(value)


def read_jsonl(path: Path, strict_end: bool = False) -> list[dict]:
    """The records of a JSON-lines log, each an object with a kind and a step. A last line without its
    newline is a live run's line half-written: left for the next read (refused with `strict_end`)."""
    lines, torn = whole_lines(path)
    if torn and strict_end:
        raise ConfigError(f"{path}:{len(lines) + 1}: cut off mid-line (expected each line to end with a newline)")
    return parse_lines(path, lines)


def whole_lines(path: Path) -> tuple[list[bytes], bytes]:
    """(the lines that end with a newline, what follows the last one)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return [], b""
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror}) (expected JSON lines)") from None
    lines = data.split(b"\n")
    torn = lines.pop()
    return lines, torn


def parse_lines(path: Path, lines: list[bytes]) -> list[dict]:
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line.decode("utf-8"))
        except ValueError:
            raise ConfigError(f"{path}:{number}: not a JSON line (expected one JSON object per line)") from None
        if not isinstance(record, dict) or not isinstance(record.get("kind"), str) or not is_int(record.get("step")):
            raise ConfigError(
                f"{path}:{number}: not a cockpit record (expected an object with a kind and an integer step)"
            )
        records.append(record)
    return records


def check_metric(record: dict, where: str) -> None:
    kind = record["kind"]
    names = [*RECORD_NUMBERS.get(kind, ())]
    if kind == "train":
        aggregates = [record[n] for n in UPDATE_METRICS if n in record]
        if not all(
            isinstance(a, dict) and all(a.get(k) is None or is_number(a.get(k)) for k in ("mean", "min", "max"))
            for a in aggregates
        ):
            raise ConfigError(
                f"{where}: train record whose {'/'.join(UPDATE_METRICS)} are not {{mean, min, max}} numbers"
            )
    wrong = [n for n in names if n not in record or not (record[n] is None or is_number(record[n]))]
    if kind == "eval" and not isinstance(record.get("scheduled"), bool):
        wrong.append("scheduled")
    if wrong:
        raise ConfigError(
            f"{where}: {kind} record with {', '.join(wrong)} missing or mistyped "
            "(expected numbers, and scheduled true or false)"
        )


def check_event(event: dict, where: str) -> None:
    """Each kind of event holds what the front ends show of it (`contract.EVENT_FIELDS`)."""
    problem = Event.from_dict(event).problem()
    if problem is not None:
        raise ConfigError(f"{where}: {event['kind']} event that cannot be shown ({problem})")
    if event["kind"] == "hparam" and event.get("key") not in LIVE_KEYS:
        raise ConfigError(f"{where}: a live change of {event.get('key')!r} (expected one of {', '.join(LIVE_KEYS)})")


def check_logs_at(run_dir: Path, checkpoint: Path, meta: dict, latest: bool) -> str | None:
    """Check that a resume can cut the run's logs back to `checkpoint` (the line counts it recorded) and
    say what that cuts, in one line (None when it cuts no more than a finished run's `end`). The lines kept must be whole records, and the
    events kept must end with this checkpoint's own: otherwise the logs went on from an earlier
    checkpoint and this one's past is gone. `latest`: the run's latest checkpoint, whose own event a
    kill may have kept from being written."""
    run_dir, counts = Path(run_dir), meta.get("log_lines") or {}
    cuts, news = [], False
    for name in ("metrics", "events"):
        path = run_dir / f"{name}.jsonl"
        lines, torn = whole_lines(path)
        keep = counts.get(name, len(lines))
        records = parse_lines(path, lines[:keep])
        check = check_metric if name == "metrics" else check_event
        for number, record in enumerate(records, 1):
            check(record, f"{path}:{number}")
        lost = keep - len(lines)
        if lost > (1 if name == "events" and latest else 0):
            raise ConfigError(
                f"{path}: {len(lines)} whole lines, {checkpoint.name} was taken after line {keep} "
                f"(expected the log the checkpoint was taken with; --fork {checkpoint} starts a new run from it)"
            )
        if name == "events" and lost <= 0:
            _check_own_event(path, records, checkpoint)
        if len(lines) + bool(torn) > len(records):
            cuts.append(f"{path.name} from {len(lines) + bool(torn)} to {len(records)} lines")
        news = news or bool(torn) or not all(_is_end(line) for line in lines[keep:])
    newer = sorted(
        p.name
        for p in (run_dir / "checkpoints").glob("step-*")
        if (m := FULL_NAMED.fullmatch(p.name)) and int(m[1]) > meta["step"]
    )
    notes = [f"cut back {' and '.join(cuts)}"] if news else []
    if newer:
        notes.append(f"skips newer checkpoints: {', '.join(newer)} (--fork one to keep its course)")
    return f"resuming at step {meta['step']:,}: " + "; ".join(notes) if notes else None


def _is_end(line: bytes) -> bool:
    """The `end` event a finished run writes after its last checkpoint: cutting it is routine, not news."""
    try:
        return json.loads(line).get("kind") == "end"
    except (ValueError, AttributeError):
        return False


def _check_own_event(path: Path, events: list[dict], checkpoint: Path) -> None:
    own = next(
        (
            (n, e)
            for n, e in reversed(list(enumerate(events, 1)))
            if e["kind"] == "checkpoint" and e.get("checkpoint") != "best"
        ),
        None,
    )
    if own is None or Path(str(own[1].get("path"))).name != checkpoint.name:
        where = f"{path}:{own[0]}" if own else str(path)
        found = Path(str(own[1].get("path"))).name if own else "no checkpoint"
        raise ConfigError(
            f"{where}: records {found} where {checkpoint.name} was taken: the logs went on from an earlier "
            f"checkpoint, and this one's past is gone (expected --fork {checkpoint} to continue from it)"
        )


def read_metrics(path: Path, strict_end: bool = False) -> list[dict]:
    records = read_jsonl(path, strict_end)
    for number, record in enumerate(records, 1):
        check_metric(record, f"{path}:{number}")
    return records


def read_events(path: Path, strict_end: bool = False) -> list[dict]:
    events = read_jsonl(path, strict_end)
    for number, event in enumerate(events, 1):
        check_event(event, f"{path}:{number}")
    return events


def read_live_changes(run_dir: Path, where: str) -> list[dict]:
    """The run's live changes (its `hparam` events, in order), each new value checked as the config
    would check it: what `--replay` and `--before-change` apply again. `where` names the asking flag."""
    path = Path(run_dir) / "events.jsonl"
    if not path.is_file():
        raise ConfigError(f"{where}: not a run directory with its events (no events.jsonl)")
    changes = [e for e in read_events(path) if e["kind"] == "hparam"]
    for e in changes:
        build_config({"dqn": {e["key"]: e["new"]}}, f"{path}: a live change at step {e['step']:,}", cross_checks=False)
    return changes


def read_summary(path: Path) -> dict | None:
    """summary.json checked for what the tools read from it; None while the run has not ended."""
    try:
        summary = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConfigError(f"{path}: unreadable run summary ({e}) (expected a JSON object)") from None
    if not isinstance(summary, dict) or summary.get("status") not in STATES:
        raise ConfigError(f"{path}: not a run summary (expected an object with status one of {', '.join(STATES)})")
    for key, kind in SUMMARY_FIELDS.items():
        if key in summary and not _fits(summary[key], kind):
            expected = {"count": "an integer >= 0", "number": "a number"}[kind.rstrip("?")] + (
                " or null" if kind.endswith("?") else ""
            )
            raise ConfigError(f"{path}: {key} = {summary[key]!r:.60}: expected {expected}")
    if "steps" not in summary:
        raise ConfigError(f"{path}: no steps (expected the steps the run took)")
    return summary


def read_config_tables(run_dir: Path) -> dict:
    """config.toml's tables, checked like a preset."""
    path = Path(run_dir) / "config.toml"
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{run_dir}: not a run directory (no config.toml)") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (expected the run's TOML config)") from None
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: unreadable run config ({e})") from None
    build_config(tables, str(path))
    return tables


def edited_keys(config: dict, started: dict) -> list[str]:
    """The TABLE.KEY whose values differ between two configs' tables, run.total_steps aside (it may grow)."""
    keys = sorted(
        {f"{t}.{k}" for c in (config, started) for t, values in c.items() for k in values} - {"run.total_steps"}
    )

    def value(tables: dict, key: str) -> str:
        table, _, name = key.partition(".")
        return json.dumps(tables.get(table, {}).get(name), sort_keys=True)

    return [k for k in keys if value(config, k) != value(started, k)]


def read_metadata(run_dir: Path) -> dict:
    """metadata.json (empty when absent, as in runs made by hand)."""
    path = Path(run_dir) / "metadata.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConfigError(f"{path}: unreadable run metadata ({e}) (expected a JSON object)") from None
    if not isinstance(meta, dict):
        raise ConfigError(f"{path}: a JSON {type(meta).__name__} (expected an object: the run's metadata)")
    if not isinstance(meta.get("preset", ""), str):
        raise ConfigError(f"{path}: preset = {meta['preset']!r:.60}: expected a string")
    return meta


def load_history(run_dir: Path, store: MetricsStore | None = None) -> MetricsStore:
    """A store holding what the run directory recorded (per-update figures at their logged resolution)."""
    run_dir = Path(run_dir)
    store = store or MetricsStore()
    config = read_config_tables(run_dir)
    summary = read_summary(run_dir / "summary.json") or {}
    hyperparameters = {k: config.get("dqn", {}).get(k) for k in LIVE_KEYS}
    status = RunStatus(state=RunState.RUNNING, total_steps=config.get("run", {}).get("total_steps") or 0)
    speeds = read_timing(run_dir / "timing.jsonl")
    for record in read_metrics(run_dir / "metrics.jsonl"):
        step = record["step"]
        status = status.replace(step=max(status.step, step))
        if record["kind"] == "episode":
            store.publish(
                points={"rollout/ep_return": (step, record["return"]), "rollout/ep_length": (step, record["length"])}
            )
        elif record["kind"] == "eval":
            evaluation = Evaluation.from_dict(record)
            store.add_evaluation(evaluation)
            status = status.replace(last_eval=evaluation)
            if record["scheduled"] and record["mean"] is not None:
                status = status.replace(best_eval=max(status.best_eval or -math.inf, record["mean"]))
        elif record["kind"] == "train":
            steps_per_s = speeds.get(step, record.get("steps_per_s"))  # in metrics.jsonl before timing.jsonl
            points: dict[str, tuple] = {
                "rollout/epsilon": (step, record["epsilon"]),
                "rollout/action_entropy": (step, record["action_entropy"]),
            }
            if steps_per_s is not None:
                points["time/steps_per_s"] = (step, steps_per_s)
            for name in UPDATE_METRICS:
                if name in record:
                    agg = record[name]
                    points[f"train/{name}"] = (step, agg["mean"], agg["min"], agg["max"])
            store.publish(points=points)
            status = status.replace(epsilon=record["epsilon"], steps_per_s=steps_per_s)
            if "q_bound" in record:
                status = status.replace(q_bound=record["q_bound"])
            if "q_range" in record:
                low, high = record["q_range"]
                status = status.replace(q_range=(low, high))
    for event in read_events(run_dir / "events.jsonl"):
        store.add_event(Event.from_dict(event))
        if event["kind"] == "hparam":
            hyperparameters[event["key"]] = event["new"]
            status = status.replace(last_changed=event["key"])
    status = status.replace(hyperparameters=hyperparameters)
    if summary:
        status = status.replace(
            state=RunState(summary["status"]),
            step=summary["steps"],
            elapsed_s=summary.get("wall_time_s"),
            target_return=summary.get("target_return"),
            first_step_reaching_target=summary.get("first_step_reaching_target"),
            summary=summary,
        )
    store.publish(status)
    return store


def read_timing(path: Path) -> dict[int, float]:
    """steps/s by step, from a run's timing.jsonl (none in runs from before it)."""
    return {r["step"]: r["steps_per_s"] for r in read_jsonl(path) if "steps_per_s" in r and is_number(r["steps_per_s"])}
