"""One place where the trainer's figures are recorded, and the sinks that write them in their shape.

As Stable-Baselines3's logger: the trainer `record`s each figure once under a namespaced key
(`rollout/ep_return`, `train/loss`) and `dump`s them at a step; each sink writes what concerns it:
the live `MetricsStore` (chart series), `metrics.jsonl` (one record per dump, fields named as they
always were), `timing.jsonl` (wall-clock figures, kept out of the reproducible records) and
TensorBoard (scalars). `exclude` keeps a figure from some sinks, e.g. a record's bookkeeping fields
from TensorBoard; `dump(sinks=...)` writes to some only (the store's chunks are finer than the files'
intervals). A sink is anything with a `name` and `write(step, kind, figures)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

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


class Sink(Protocol):
    """Writes recorded figures in its own shape; `name` is what `exclude` and `dump(sinks=...)` name."""

    name: str

    def write(self, step: int, kind: str, figures: dict[str, Any]) -> None: ...


class StoreSink:
    """The live store's chart series: a point per figure it has a series for."""

    name = STORE

    def __init__(self, store: MetricsStore):
        self.store = store

    def write(self, step: int, kind: str, figures: dict[str, Any]) -> None:
        points = {k: _point(step, v) for k, v in figures.items() if k in self.store.series}
        if points:
            self.store.publish(points=points)


class JsonlSink:
    """metrics.jsonl: one record per dump, {"kind", "step", ...fields named as they always were}; the
    wall-clock figures go to timing.jsonl instead, so that the records of a seed are the same in every run."""

    name = JSONL

    def __init__(self, log: RunLog):
        self.log = log

    def write(self, step: int, kind: str, figures: dict[str, Any]) -> None:
        record: dict[str, Any] = {"kind": kind, "step": step}
        timing: dict[str, Any] = {}
        for key, value in figures.items():
            field = FIELDS.get(key, key.rsplit("/", 1)[-1])
            (timing if key.startswith(WALL_CLOCK) else record)[field] = _jsonl(value)
        self.log.metric(record)
        if timing:
            self.log.timing({"kind": kind, "step": step, **timing})


class TensorBoardSink:
    """TensorBoard's scalars under the figures' own keys (an interval's summary by its mean)."""

    name = TENSORBOARD

    def __init__(self, log: RunLog):
        self.log = log

    def write(self, step: int, kind: str, figures: dict[str, Any]) -> None:
        self.log.scalars(step, {k: (v.mean if isinstance(v, Stats) else v) for k, v in figures.items()})


class Recorder:
    def __init__(self, store: MetricsStore):
        self.sinks: list[Sink] = [StoreSink(store)]
        self._log: RunLog | None = None
        self._figures: dict[str, tuple[Any, tuple[str, ...]]] = {}

    @property
    def log(self) -> RunLog | None:
        return self._log

    @log.setter
    def log(self, log: RunLog) -> None:
        """The run log, once open: its files become sinks too."""
        self._log = log
        self.sinks += [JsonlSink(log), TensorBoardSink(log)]

    def record(self, key: str, value: Any, exclude: tuple[str, ...] = ()) -> None:
        """A figure for the next dump; `exclude` names sinks it is not for."""
        self._figures[key] = (value, exclude)

    def dump(self, step: int, kind: str, sinks: tuple[str, ...] = (STORE, JSONL, TENSORBOARD)) -> None:
        """Write what was recorded since the last dump as `kind` ("episode", "train", "eval") at `step`,
        to the sinks named."""
        figures, self._figures = self._figures, {}
        for sink in self.sinks:
            if sink.name in sinks:
                sink.write(step, kind, {k: v for k, (v, exclude) in figures.items() if sink.name not in exclude})


def _point(step: int, value: Any) -> tuple:
    if isinstance(value, Stats):
        return (step, value.mean, value.low, value.high, value.count)
    return (step, value)


def _jsonl(value: Any) -> Any:
    if isinstance(value, Stats):
        return {"mean": value.mean, "min": value.low, "max": value.high}
    return value
