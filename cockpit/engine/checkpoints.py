"""Checkpoints on disk: one directory each, written to a temporary name, fsynced, then renamed.

    checkpoints/
      step-000012000/            periodic (the last `run.checkpoint_keep` are kept)
      step-000012345-demand/     on demand (kept)
      step-000013001-stop/       at a graceful stop (kept)
      best-step-000011000/       best scheduled evaluation: policy and normalizer only
      latest, best               pointer files naming a directory, replaced atomically

Each directory holds `state.pt` (tensors only, loaded with `weights_only=True`) and `meta.json`
(counters, RNG states, schedule, live changes). Loading never unpickles arbitrary objects: a
crafted file is refused with a `CheckpointError`, never executed. The metadata alone is read without
torch (`load_full_meta`), so a front end can refuse a wrong checkpoint before torch's import.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from cockpit.engine.config import ConfigError
from cockpit.engine.files import fsync_dir, write_atomic

STATE, META = "state.pt", "meta.json"
FULL_KINDS = ("periodic", "demand", "stop")


class CheckpointError(ConfigError):
    """A checkpoint that cannot be loaded; the CLI reports it in one line and exits 2."""


def checkpoints_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def _dir_name(step: int, kind: str) -> str:
    if kind == "best":
        return f"best-step-{step:09d}"
    return f"step-{step:09d}" + ("" if kind == "periodic" else f"-{kind}")


def _write_file(path: Path, write) -> None:
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def save(run_dir: Path, tensors: dict, meta: dict, keep: int = 3) -> Path:
    """Write a checkpoint of `meta["kind"]`; update `latest` (full kinds) or `best`; prune old periodic ones."""
    root = checkpoints_dir(run_dir)
    root.mkdir(exist_ok=True)
    kind, step = meta["kind"], meta["step"]
    final = root / _dir_name(step, kind)
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    for stale in root.glob(".tmp-*"):  # left by a killed process (the run directory is locked: none is live)
        shutil.rmtree(stale, ignore_errors=True)
    tmp.mkdir()
    import torch

    _write_file(tmp / STATE, lambda f: torch.save(tensors, f))
    _write_file(tmp / META, lambda f: f.write(json.dumps(meta, indent=1).encode()))
    fsync_dir(tmp)
    replaced = None
    if final.exists():  # the same step written again (a resume from an earlier checkpoint passes it)
        replaced = root / f".tmp-replaced-{final.name}-{os.getpid()}"
        os.rename(final, replaced)  # moved aside, not deleted, until the new one is in place
    os.rename(tmp, final)
    fsync_dir(root)
    if replaced is not None:
        shutil.rmtree(replaced, ignore_errors=True)
    pointer = "best" if kind == "best" else "latest"
    previous = read_pointer(run_dir, pointer)
    write_atomic(root / pointer, final.name + "\n")
    if kind == "best" and previous and previous != final.name:
        shutil.rmtree(root / previous, ignore_errors=True)
    if kind == "periodic":
        periodic = sorted(p for p in root.iterdir() if re.fullmatch(r"step-\d{9}", p.name))
        for old in periodic[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def read_pointer(run_dir: Path, name: str) -> str | None:
    try:
        return (checkpoints_dir(run_dir) / name).read_text().strip() or None
    except FileNotFoundError:
        return None


def find(path: Path, prefer: str = "latest") -> Path:
    """A checkpoint directory from either itself or a run directory (its `latest` or `best`)."""
    path = Path(path)
    if (path / META).exists():
        return path
    if not path.exists():
        raise CheckpointError(f"{path}: no such run directory or checkpoint")
    if path.name == "checkpoints":
        path = path.parent
    for name in (prefer, "latest") if prefer != "latest" else ("latest",):
        target = read_pointer(path, name)
        if target:
            candidate = checkpoints_dir(path) / target
            if (candidate / META).exists():
                return candidate
    raise CheckpointError(f"{path}: no {prefer} checkpoint here (expected a run directory with checkpoints/ or a checkpoint directory)")


FULL_META = ("episode", "config", "updates", "buffer_pos", "buffer_size", "dqn", "epsilon_segments", "rng",
             "action_space_rng", "python_random", "numpy_global", "episode_returns", "applied_changes")
FULL_TENSORS = ("q", "target", "optimizer", "buffer", "recent_actions", "action_counts", "pending_updates",
                "log_updates", "torch_rng", "numpy_global_keys")


def load_full_meta(checkpoint: Path) -> dict:
    """The metadata of a full checkpoint (one a run can continue from), checked for everything a
    resume reads from it; no torch needed. Its tensors are checked when loaded (`load_full_tensors`)."""
    meta = load_meta(checkpoint)
    if meta["kind"] not in FULL_KINDS:
        raise CheckpointError(f"{checkpoint}: a '{meta['kind']}' checkpoint holds the policy only (expected a full checkpoint)")
    missing = [f"{META}: {k}" for k in FULL_META if k not in meta]
    if missing:
        raise CheckpointError(f"{checkpoint}: incomplete checkpoint, missing {', '.join(missing)}")
    return meta


def load_full_tensors(checkpoint: Path) -> dict:
    """The tensors of a full checkpoint (its metadata checked by `load_full_meta`), checked for
    everything a resume reads."""
    tensors = load_tensors(checkpoint)
    missing = [f"{STATE}: {k}" for k in FULL_TENSORS if k not in tensors]
    if missing:
        raise CheckpointError(f"{checkpoint}: incomplete checkpoint, missing {', '.join(missing)}")
    return tensors


def run_dir_of(checkpoint: Path) -> Path:
    return Path(checkpoint).resolve().parent.parent


def load(checkpoint: Path) -> tuple[dict, dict]:
    """(tensors, meta); refuses anything that is not plain tensors and JSON."""
    meta = load_meta(checkpoint)
    return load_tensors(checkpoint), meta


def load_meta(checkpoint: Path) -> dict:
    checkpoint = Path(checkpoint)
    try:
        meta = json.loads((checkpoint / META).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{checkpoint / META}: unreadable checkpoint metadata ({e})") from None
    if not isinstance(meta, dict) or meta.get("kind") not in (*FULL_KINDS, "best") or not isinstance(meta.get("step"), int):
        raise CheckpointError(f"{checkpoint / META}: not a cockpit checkpoint (expected kind and step)")
    return meta


def load_tensors(checkpoint: Path) -> dict:
    import torch

    checkpoint = Path(checkpoint)
    try:
        tensors = torch.load(checkpoint / STATE, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError for crafted pickles, RuntimeError for corrupt zips
        raise CheckpointError(
            f"{checkpoint / STATE}: refused to load ({type(e).__name__}): expected plain tensors; "
            "cockpit never unpickles arbitrary objects"
        ) from None
    if not isinstance(tensors, dict):
        raise CheckpointError(f"{checkpoint / STATE}: not a cockpit checkpoint (expected a dict of tensors)")
    return tensors
