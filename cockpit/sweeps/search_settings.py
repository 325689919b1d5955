"""What `cockpit tune --search` asks of a search, as the search and its report read it (not as
the command line spells it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cockpit.sweeps.aggregate import Score


@dataclass(frozen=True)
class SearchSettings:
    """What a search was asked for (`cockpit tune --search ...`): the preset and its overrides, the
    dimensions, how seeds are scored, the budget, and where the study lives."""

    preset: str
    overrides: tuple[str, ...] = ()
    """`--set TABLE.KEY=VALUE`s every trial shares."""
    search: tuple[str, ...] = ()
    """`--search TABLE.KEY=SPEC`s, one per dimension."""
    score: Score = Score()
    trials: int = 20
    """Trials in the study, all workers together."""
    workers: int = 1
    """Runs at a time in this process."""
    heartbeat: int = 60
    """Seconds between a running trial's heartbeats; silent for twice this, it is failed and retried."""
    storage: str | None = None
    """Optuna storage URL; None: SQLite in the sweep directory."""
    study: str | None = None
    """Study name; None: derived from the preset, the search, the seeds and the score."""
    pruner: str = "median"
    sampler_seed: int | None = None
    out: Path | None = None
    """The sweep directory; None: runs/search-<preset>-<time>."""
