"""The metrics store: what the trainer publishes and front ends read at their own pace.

The trainer writes in chunks (every `PUBLISH_EVERY` steps, one lock acquisition), never per step;
readers take a `snapshot()`, a copy they may keep. Memory stays bounded however long the run:
each series halves its resolution when it fills, keeping min and max so spikes survive.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from cockpit.engine.contract import Evaluation, Event, RunStatus

UPDATE_METRICS = ("loss", "q_mean", "q_max", "grad_norm")
"""What each update reports, in order: TD loss, max-over-actions Q averaged and maxed over the batch,
and the global gradient norm before clipping."""

PUBLISH_EVERY = 100
"""Env steps between the trainer's pushes into the store."""

SERIES = (
    "train/loss",
    "train/q_mean",
    "train/q_max",
    "train/grad_norm",
    "rollout/ep_return",
    "rollout/ep_length",
    "rollout/epsilon",
    "rollout/action_entropy",
    "time/steps_per_s",
)


class Series:
    """Points (step, mean, min, max), at most `capacity`; when full, adjacent pairs are merged."""

    def __init__(self, capacity: int = 2048):
        self.capacity = capacity
        self.steps: list[int] = []
        self.means: list[float] = []
        self.mins: list[float] = []
        self.maxs: list[float] = []
        self.weights: list[int] = []

    def add(self, step: int, mean: float, low: float | None = None, high: float | None = None, weight: int = 1) -> None:
        self.steps.append(step)
        self.means.append(mean)
        self.mins.append(mean if low is None else low)
        self.maxs.append(mean if high is None else high)
        self.weights.append(weight)
        if len(self.steps) >= self.capacity:
            self._halve()

    def _halve(self) -> None:
        n = len(self.steps) // 2 * 2
        w = self.weights
        merged_w = [w[i] + w[i + 1] for i in range(0, n, 2)]
        self.means = [
            (self.means[i] * w[i] + self.means[i + 1] * w[i + 1]) / merged_w[i // 2] for i in range(0, n, 2)
        ] + self.means[n:]
        self.mins = [min(self.mins[i], self.mins[i + 1]) for i in range(0, n, 2)] + self.mins[n:]
        self.maxs = [max(self.maxs[i], self.maxs[i + 1]) for i in range(0, n, 2)] + self.maxs[n:]
        self.steps = [self.steps[i + 1] for i in range(0, n, 2)] + self.steps[n:]
        self.weights = merged_w + w[n:]

    def copy(self) -> Series:
        out = Series(self.capacity)
        out.steps, out.means, out.mins, out.maxs, out.weights = (
            self.steps[:],
            self.means[:],
            self.mins[:],
            self.maxs[:],
            self.weights[:],
        )
        return out


@dataclass
class Snapshot:
    """A reader's copy of the store at one moment; `version` tells whether anything changed since."""

    version: int
    status: RunStatus
    series: dict[str, Series]
    evaluations: list[Evaluation]
    events: list[Event]  # the most recent `max_events`
    event_count: int  # events ever added: a reader's count of seen events stays valid when old ones drop
    logged: list[RunStatus] = field(default_factory=list)  # the status at each `run.log_interval`, the latest
    logged_count: int = 0  # statuses ever logged, as event_count


@dataclass
class MetricsStore:
    max_events: int = 2000
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    version: int = 0
    status: RunStatus = field(default_factory=RunStatus)
    series: dict[str, Series] = field(default_factory=lambda: {k: Series() for k in SERIES})
    evaluations: list[Evaluation] = field(default_factory=list)
    events: deque[Event] = field(default_factory=deque)
    event_count: int = 0
    logged: deque[RunStatus] = field(default_factory=lambda: deque(maxlen=1000))
    logged_count: int = 0

    def publish(
        self, status: RunStatus | None = None, points: dict[str, tuple] | None = None, logged: bool = False
    ) -> None:
        """Replace the status and append points: key -> (step, mean[, min, max[, weight]]). `logged`: the
        status is the one at a `run.log_interval` boundary, kept for a plain log's one line per interval."""
        with self._lock:
            if status is not None:
                self.status = status
                if logged:
                    self.logged.append(status)
                    self.logged_count += 1
            for key, point in (points or {}).items():
                self.series[key].add(*point)
            self.version += 1

    def update_status(self, **changes: Any) -> None:
        """Change some of the status's fields (e.g. a front end's word that the run failed to start)."""
        with self._lock:
            self.status = self.status.replace(**changes)
            self.version += 1

    def add_evaluation(self, evaluation: Evaluation) -> None:
        with self._lock:
            self.evaluations.append(evaluation)
            self.version += 1

    def add_event(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)
            self.event_count += 1
            if len(self.events) > self.max_events:
                self.events.popleft()
            self.version += 1

    def current(self) -> Snapshot:
        """A copy of everything, now."""
        snap = self.snapshot(since_version=-2)
        assert snap is not None  # the version is never -2
        return snap

    def snapshot(self, since_version: int = -1) -> Snapshot | None:
        """A copy of everything, or None when nothing changed since `since_version`."""
        with self._lock:
            if self.version == since_version:
                return None
            return Snapshot(
                version=self.version,
                status=self.status,
                series={k: s.copy() for k, s in self.series.items()},
                evaluations=list(self.evaluations),
                events=list(self.events),
                event_count=self.event_count,
                logged=list(self.logged),
                logged_count=self.logged_count,
            )
