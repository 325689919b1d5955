"""What each check of `cockpit check` returns, and what the checks share: the sections in the
order of the debugging hierarchy, the statuses, and how figures are written."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from cockpit.engine.envs import EnvInfo

SECTIONS = ("Reward signal", "Environment", "Learning basics", "Exploration", "Hyperparameters")
REWARD, ENV, LEARNING, EXPLORATION, HYPER = SECTIONS
OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class CheckResult:
    section: str
    name: str
    status: str
    """`ok`, `warn` or `fail`."""
    figure: str
    """What was measured, one line."""
    advice: str = ""
    """What to do, where the check did not pass."""


def g(x: float) -> str:
    """A figure in three significant digits, as every figure of the checklist is written."""
    return f"{x:.3g}"


def action_label(action: int, info: EnvInfo) -> str:
    """An action by the game's name for it where it has one (Atari's NOOP, FIRE), else by its index."""
    return info.action_meanings[action] if action < len(info.action_meanings) else str(action)


def summary(results: list[CheckResult]) -> dict[str, int]:
    return {status: sum(r.status == status for r in results) for status in (OK, WARN, FAIL)}


def as_dict(result: CheckResult) -> dict:
    return dataclasses.asdict(result)
