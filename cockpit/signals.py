"""SIGINT, SIGTERM and SIGHUP mean the same in every front end: the run stops gracefully (the end of
its episode, a checkpoint, the summary) and the process exits 128 + the signal; an attached viewer
detaches instead. A dropped SSH connection is a SIGHUP: it must not lose the run.
"""

from __future__ import annotations

import os
import select
import signal
from collections.abc import Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def install(handler: Callable[[int], None]) -> Callable[[], None]:
    """Send the stop signals to `handler(signum)`, which runs in the main thread between two
    bytecodes, so it must only hand the signal on. Returns what puts the previous handlers back.
    A signal ignored when the process started stays ignored (`nohup`, a background job's SIGINT)."""

    def on_signal(signum: int, _frame) -> None:
        if signum == signal.SIGHUP:
            let_go_of_a_hung_up_terminal()
        handler(signum)

    previous = {}
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, on_signal)

    def restore() -> None:
        for signum, old in previous.items():
            signal.signal(signum, signal.SIG_DFL if old is None else old)

    return restore


def let_go_of_a_hung_up_terminal() -> None:
    """A terminal that hung up answers every write with EIO: the progress line would raise, and
    Textual's output thread would die and leave the app blocked on its full queue. Whatever is
    still written to it (the last frames, the exit sequences, the summary) goes to /dev/null."""
    for fd in (1, 2):
        poll = select.poll()
        poll.register(fd, select.POLLOUT)
        if any(events & select.POLLHUP for _, events in poll.poll(0)):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
