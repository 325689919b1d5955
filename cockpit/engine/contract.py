"""What crosses the seam between the engine and its front ends: run states, the status, evaluations.

Front ends (the cockpit, headless lines, `ctl`, `ls`, a remote viewer) read these typed values;
they become dicts only on the wire (`cockpit.remote`) and in the run's files, in the shape those
have always had, so that a viewer of an older run still reads it (`from_dict` takes what older
runs sent, e.g. the state "done" for finished).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RunState(StrEnum):
    """One vocabulary for a run's state, wherever it is shown or sent (the value is the wire's string)."""

    CREATED = "created"
    LOADING = "loading"  # torch's import or a checkpoint's tensors: no steps yet
    RUNNING = "running"
    PAUSED = "paused"
    EVALUATING = "evaluating"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"
    # What a run directory says of a run no process answers for (`ls`, `attach`):
    DEAD = "dead"  # no summary and no live process
    DAMAGED = "damaged"  # a file of the run does not read back
    BUSY = "busy"  # alive, with every viewer slot taken
    UNKNOWN = "unknown"  # listening but not answering

    @property
    def ended(self) -> bool:
        return self in ENDED

    @property
    def training(self) -> bool:
        """Steps are being taken: a steps/s figure is true (none while loading, paused or ended)."""
        return self in (RunState.RUNNING, RunState.EVALUATING)

    @classmethod
    def parse(cls, value: Any) -> RunState:
        """A state as sent by any cockpit, older ones included ("done" was finished); UNKNOWN otherwise."""
        if isinstance(value, RunState):
            return value
        try:
            return cls(LEGACY_NAMES.get(value, value))
        except ValueError:
            return cls.UNKNOWN


ENDED = frozenset({RunState.FINISHED, RunState.STOPPED, RunState.FAILED})
"""A run in one of these states takes no more commands."""
LEGACY_NAMES = {"done": "finished"}


@dataclass(frozen=True)
class Evaluation:
    """A greedy evaluation of the policy at `step`: scheduled (every `run.eval_freq`) or on demand."""

    step: int
    scheduled: bool
    mean: float
    std: float
    returns: tuple[float, ...]
    lengths: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """As events.jsonl, metrics.jsonl and the wire hold it."""
        return {
            "step": self.step,
            "scheduled": self.scheduled,
            "mean": self.mean,
            "std": self.std,
            "returns": list(self.returns),
            "lengths": list(self.lengths),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evaluation:
        """From a record, an event or the wire (extra keys such as `kind` are ignored; a non-finite
        mean logged as null reads back as NaN)."""
        return cls(
            step=int(data["step"]),
            scheduled=bool(data.get("scheduled", True)),
            mean=_number(data.get("mean")),
            std=_number(data.get("std")),
            returns=tuple(data.get("returns") or ()),
            lengths=tuple(data.get("lengths") or ()),
        )


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class Event:
    """Something that happened in the run at `step`: an evaluation, a live change and its effect, a
    checkpoint, an alert, a pause, the end... `fields` are the kind's own (events.jsonl's keys)."""

    kind: str
    step: int
    time: float | None = None  # wall clock (seconds since the epoch)
    fields: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    def problem(self) -> str | None:
        """What keeps this event from being shown (a field its kind needs, missing or mistyped), or None."""
        for name, (check, expected) in EVENT_FIELDS.get(self.kind, {}).items():
            if name not in self.fields:
                return f"no {name}"
            if not check(self.fields[name]):
                shown = repr(self.fields[name])
                return f"{name} = {shown if len(shown) <= 40 else shown[:37] + '...'}: expected {expected}"
        return None

    def to_dict(self) -> dict[str, Any]:
        """As events.jsonl and the wire hold it: {"kind", "step", "time", ...fields}."""
        return {
            "kind": self.kind,
            "step": self.step,
            **({} if self.time is None else {"time": self.time}),
            **self.fields,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        fields = {k: v for k, v in data.items() if k not in ("kind", "step", "time")}
        return cls(str(data["kind"]), int(data["step"]), data.get("time"), fields)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_NUMBER = (_is_number, "a number")
_NUMBER_OR_NULL = (lambda v: v is None or _is_number(v), "a number or null")
_COUNT = (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer")
_TEXT = (lambda v: isinstance(v, str), "a string")
_LIST = (lambda v: isinstance(v, list), "a list")
_ANY = (lambda v: True, "a value")
EVENT_FIELDS: dict[str, dict[str, tuple[Any, str]]] = {
    "eval": {"mean": _NUMBER, "std": _NUMBER, "returns": _LIST},
    "hparam": {"key": _TEXT, "old": _ANY, "new": _ANY},
    "hparam_effect": {
        "key": _TEXT,
        "value": _ANY,
        "changed_at": _COUNT,
        "return_before": _NUMBER_OR_NULL,
        "return_after": _NUMBER_OR_NULL,
    },
    "checkpoint": {"checkpoint": _TEXT, "path": _TEXT},
    "alert": {"message": _TEXT},
    "alert_mute": {"alert": _TEXT, "muted": _ANY},
    "checkpoint_skipped": {"message": _TEXT},
    "error": {"message": _TEXT},
    "warning": {"message": _TEXT},
    "resumed": {"checkpoint": _TEXT, "from_step": _COUNT},
    "end": {
        "status": _TEXT,
        "steps": _COUNT,
        "final_eval_return": _NUMBER_OR_NULL,
        "best_eval_return": _NUMBER_OR_NULL,
    },
}
"""The fields each kind of event must hold to be shown (the front ends' `text.event_parts` reads them)."""


@dataclass(frozen=True)
class Reply:
    """A command's answer: done (`ok`) or refused (`error` says why), and what it gives back in `data`
    (an evaluation, a checkpoint's path, a live change with its rollback command, the weights...)."""

    ok: bool
    error: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        """The wire's reply object (and `ctl --json`'s): {"ok": ..., ["error": ...,] ...data}."""
        return {"ok": self.ok, **({} if self.error is None else {"error": self.error}), **self.data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reply:
        rest = {k: v for k, v in data.items() if k not in ("ok", "error")}
        return cls(bool(data.get("ok")), data.get("error"), rest)


@dataclass(frozen=True)
class PendingChange:
    """A live change asked for and not yet applied (one at a time)."""

    key: str
    value: Any
    source: str = "api"


@dataclass(frozen=True)
class RunStatus:
    """Where a run stands: what the status strip, progress lines, `ctl status` and `ls` show."""

    state: RunState = RunState.CREATED
    step: int = 0
    total_steps: int = 0
    episode: int = 0
    updates: int = 0
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    q_bound: float | None = None
    q_range: tuple[float, float] | None = None
    muted_alerts: tuple[str, ...] = ()
    last_changed: str | None = None  # the live key changed last
    last_eval: Evaluation | None = None
    best_eval: float | None = None
    first_step_reaching_target: int | None = None
    target_return: float | None = None
    train_time_s: float = 0.0
    pending_change: PendingChange | None = None
    elapsed_s: float | None = None
    steps_per_s: float | None = None  # the last chunk's training speed; None when not training
    epsilon: float | None = None
    last_checkpoint: str | None = None
    summary: Mapping[str, Any] | None = None  # once the run has ended: what summary.json holds
    error: str | None = None

    def replace(self, **changes: Any) -> RunStatus:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The wire's status object (keys as they always were; the last three only once known)."""
        data: dict[str, Any] = {
            "state": self.state.value,
            "step": self.step,
            "total_steps": self.total_steps,
            "episode": self.episode,
            "updates": self.updates,
            "hyperparameters": dict(self.hyperparameters),
            "q_bound": self.q_bound,
            "q_range": None if self.q_range is None else list(self.q_range),
            "muted_alerts": list(self.muted_alerts),
            "last_changed": self.last_changed,
            "last_eval": None if self.last_eval is None else self.last_eval.to_dict(),
            "best_eval": self.best_eval,
            "first_step_reaching_target": self.first_step_reaching_target,
            "target_return": self.target_return,
            "train_time_s": self.train_time_s,
            "pending_change": None
            if self.pending_change is None
            else {"kind": "set", **dataclasses.asdict(self.pending_change)},
            "elapsed_s": self.elapsed_s,
            "steps_per_s": self.steps_per_s,
            "epsilon": self.epsilon,
        }
        for key in ("last_checkpoint", "summary", "error"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunStatus:
        """From the wire, as any cockpit sent it: keys it lacks keep their defaults, others are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["state"] = RunState.parse(values.get("state", RunState.CREATED))
        if values.get("last_eval") is not None:
            values["last_eval"] = Evaluation.from_dict(values["last_eval"])
        if values.get("q_range") is not None:
            low, high = values["q_range"]
            values["q_range"] = (low, high)
        values["muted_alerts"] = tuple(values.get("muted_alerts") or ())
        values["hyperparameters"] = dict(values.get("hyperparameters") or {})
        pending = values.get("pending_change")
        if pending is not None:
            values["pending_change"] = PendingChange(pending["key"], pending.get("value"), pending.get("source", "api"))
        for key in ("step", "total_steps", "episode", "updates"):
            if values.get(key) is None:
                values.pop(key, None)
        if values.get("train_time_s") is None:
            values.pop("train_time_s", None)
        return cls(**values)
