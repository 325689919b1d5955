"""What a subscriber is sent: the store's changes since the last update, as plain data.

An update carries the whole status, and only the new series points ([step, mean, min, max,
weight]), evaluations and events. A new subscriber's first update carries what it cannot have read
from the run's logs yet.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from cockpit.engine.metrics import Series, Snapshot

BACKFILL_POINTS = 1024
"""Points per series a new subscriber gets at most (the rest it reads from the run's logs)."""


@dataclass
class Marks:
    """How far the updates sent so far reach: the last step per series, evaluations and events seen."""

    steps: dict[str, int] = field(default_factory=dict)
    evaluations: int = 0
    events: int = 0


def points_after(series: Series, step: float, limit: int | None = None) -> list[list]:
    start = bisect.bisect_right(series.steps, step)
    if limit is not None:
        start = max(start, len(series.steps) - limit)
    s = series
    return [[s.steps[i], s.means[i], s.mins[i], s.maxs[i], s.weights[i]] for i in range(start, len(s.steps))]


def delta(snap: Snapshot, marks: Marks) -> dict:
    """The update carrying what `snap` holds beyond `marks` (which then move up to it)."""
    series = {k: pts for k, s in snap.series.items() if (pts := points_after(s, marks.steps.get(k, -1)))}
    new = snap.event_count - marks.events
    events = snap.events[-new:] if 0 < new <= len(snap.events) else (list(snap.events) if new > 0 else [])
    update = {
        "version": snap.version,
        "status": snap.status.to_dict(),
        "series": series,
        "evaluations": [e.to_dict() for e in snap.evaluations[marks.evaluations :]],
        "events": [e.to_dict() for e in events],
    }
    marks.steps = {k: s.steps[-1] for k, s in snap.series.items() if s.steps}
    marks.evaluations, marks.events = len(snap.evaluations), snap.event_count
    return update


def backfill(snap: Snapshot, since_step: float, since_time: float | None) -> dict:
    """A new subscriber's first update: points and evaluations after `since_step`, events after
    `since_time` (or `since_step` without one)."""
    series = {k: pts for k, s in snap.series.items() if (pts := points_after(s, since_step, BACKFILL_POINTS))}
    if since_time is None:
        events = [e for e in snap.events if e.step > since_step]
    else:
        events = [e for e in snap.events if (e.time or 0) > since_time]
    return {
        "version": snap.version,
        "status": snap.status.to_dict(),
        "series": series,
        "evaluations": [e.to_dict() for e in snap.evaluations if e.step > since_step],
        "events": [e.to_dict() for e in events],
    }
