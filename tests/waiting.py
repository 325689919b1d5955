"""Waiting on a condition, never on a fixed pause: the machines here are shared and differ in speed,
so a fixed pause is either too long everywhere or too short somewhere."""

from __future__ import annotations

import time

POLL_S = 0.05


async def until(pilot, condition, timeout: float = 60.0) -> None:
    """Let the app run until `condition()` holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {timeout:g} s"
        await pilot.pause(POLL_S)


def poll_until(condition, what: str, timeout: float = 60.0) -> None:
    """Check `condition()` until it holds, for what sends no signal (another process's output, its
    children, its viewers); fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} (within {timeout:g} s)"
        time.sleep(POLL_S)
