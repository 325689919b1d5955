"""The epsilon schedule: linear segments, so that a live change never makes epsilon jump."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Segment:
    start_step: int
    start_value: float
    end_value: float
    duration: int

    def value(self, step: int) -> float:
        fraction = min(1.0, (step - self.start_step) / self.duration)
        return self.start_value + fraction * (self.end_value - self.start_value)


class LinearSchedule:
    """Starts as one segment (start -> end over `duration` steps from step 0); `retarget` adds another
    from the current value, which is how a live change to epsilon_end or epsilon_decay takes effect."""

    def __init__(self, start: float, end: float, duration: int):
        self.segments = [Segment(0, start, end, duration)]

    def value(self, step: int) -> float:
        return self.segments[-1].value(step)

    def retarget(self, step: int, end: float | None = None, duration: int | None = None) -> None:
        last = self.segments[-1]
        self.segments.append(
            Segment(
                start_step=step,
                start_value=last.value(step),
                end_value=last.end_value if end is None else end,
                duration=last.duration if duration is None else duration,
            )
        )

    def state_dict(self) -> list[dict]:
        return [asdict(s) for s in self.segments]

    def load_state_dict(self, state: list[dict]) -> None:
        self.segments = [Segment(**s) for s in state]
