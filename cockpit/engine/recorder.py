"""One place where the trainer's figures are recorded, and the sinks that write them in their shape.

As Stable-Baselines3's logger: the trainer `record`s each figure once under a namespaced key
(`rollout/ep_return`, `train/loss`) and `dump`s them at a step; each sink writes what concerns it:
the live `MetricsStore` (chart series), `metrics.jsonl` (one record per dump, fields named as they
always were), `timing.jsonl` (wall-clock figures, kept out of the reproducible records) and
TensorBoard (scalars). `exclude` keeps a figure from some sinks, e.g. a record's bookkeeping fields
from TensorBoard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cockpit.engine.metrics import MetricsStore

if TYPE_CHECKING:
    from cockpit.engine.runlog import RunLog

STORE, JSONL, TENSORBOARD = "store", "jsonl", "tensorboard"
WALL_CLOCK = ("time/",)
"""Key prefixes of figures that depend on the machine and its load: they go to timing.jsonl, not metrics.jsonl."""
FIELDS = {
    "rollout/ep_return": "return",
    "rollout/ep_length": "length",
    "eval/mean_return": "mean",
    "eval/on_demand_mean_return": "mean",
}
"""metrics.jsonl's field for a key, where it is not the key's last part."""


@dataclass(frozen=True)
class Stats:
    """A figure summarised over an interval's updates: mean, min, max of `count` values."""

    mean: float
    low: float
    high: float
    count: int


class Recorder:
    def __init__(self, store: MetricsStore, log: RunLog | None = None):
        self.store = store
        self.log = log
        self._figures: dict[str, tuple[Any, tuple[str, ...]]] = {}

    def record(self, key: str, value: Any, exclude: tuple[str, ...] = ()) -> None:
        self._figures[key] = (value, exclude)

    def dump(self, step: int, kind: str, sinks: tuple[str, ...] = (STORE, JSONL, TENSORBOARD)) -> None:
        """Write what was recorded since the last dump as `kind` ("episode", "train", "eval") at `step`."""
        figures, self._figures = self._figures, {}
        if STORE in sinks:
            points = {
                k: _point(step, v) for k, (v, ex) in figures.items() if STORE not in ex and k in self.store.series
            }
            if points:
                self.store.publish(points=points)
        if self.log is None:
            return
        if JSONL in sinks:
            record: dict[str, Any] = {"kind": kind, "step": step}
            timing: dict[str, Any] = {}
            for key, (value, exclude) in figures.items():
                if JSONL not in exclude:
                    field = FIELDS.get(key, key.rsplit("/", 1)[-1])
                    (timing if key.startswith(WALL_CLOCK) else record)[field] = _jsonl(value)
            self.log.metric(record)
            if timing:
                self.log.timing({"kind": kind, "step": step, **timing})
        if TENSORBOARD in sinks:
            self.log.scalars(
                step,
                {k: (v.mean if isinstance(v, Stats) else v) for k, (v, ex) in figures.items() if TENSORBOARD not in ex},
            )


def _point(step: int, value: Any) -> tuple:
    if isinstance(value, Stats):
        return (step, value.mean, value.low, value.high, value.count)
    return (step, value)


def _jsonl(value: Any) -> Any:
    if isinstance(value, Stats):
        return {"mean": value.mean, "min": value.low, "max": value.high}
    return value
