"""Loading the engine's torch side once, under one lock, whichever thread asks first.

A new run imports torch in a background thread so that its first episodes reach the front ends
sooner. Two threads importing torch's packages at the same time can meet a module that the other
is still initialising (Python's per-module import locks break the cycle by handing out the
partial module): an `ImportError` from `torch.utils`, then a segfault. So every import of the
torch side during a run goes through `load`, which holds one lock for the whole import; a thread
that arrives second waits and then finds everything loaded.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_loaded: set[str] = set()


def load(tensorboard: bool = False) -> None:
    """Import torch, the agent, checkpoints and the trainer's state (and TensorBoard's writer when
    asked); returns at once when they are loaded already."""
    wanted = {"engine", "tensorboard"} if tensorboard else {"engine"}
    if wanted <= _loaded:
        return
    with _lock:
        if "engine" not in _loaded:
            import torch  # noqa: F401 (imported for its side effect: loaded once, under the lock)

            # Imported for their side effect: each loaded once, under the lock, before any thread uses it.
            from cockpit.engine import agent, checkpoint_state, checkpoints  # noqa: F401 (see above)

            _loaded.add("engine")
        if tensorboard and "tensorboard" not in _loaded:
            import torch.utils.tensorboard  # noqa: F401 (loaded under the lock, as above)

            _loaded.add("tensorboard")


def preload(tensorboard: bool) -> None:
    """`load` for a background thread: an error here is reported by the thread that needs the module."""
    try:
        load(tensorboard)
    except Exception:
        pass
