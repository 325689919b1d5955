"""Checkpoints on disk: one directory each, written to a temporary name, fsynced, then renamed.

    checkpoints/
      step-000012000/            periodic (the last `run.checkpoint_keep` are kept)
      step-000012345-demand/     on demand (kept)
      step-000013001-stop/       at a graceful stop (kept)
      best-step-000011000/       best scheduled evaluation: policy and normalizer only
      latest, best               pointer files naming a directory, replaced atomically

Each directory holds `state.pt` (tensors only, loaded with `weights_only=True`) and `meta.json`
(counters, RNG states, schedule, live changes, and the layout's `format`: checkpoints without one
are format 1, read as they always were). Loading never unpickles arbitrary objects: a
crafted file is refused with a `CheckpointError`, never executed. The metadata alone is read without
torch (`load_full_meta`), so a front end can refuse a wrong checkpoint before torch's import.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Collection
from pathlib import Path

from cockpit.engine import replay_segments
from cockpit.engine.checkpoint_checks import Checker, CheckpointError, check_full_meta
from cockpit.engine.config import build_config
from cockpit.engine.files import fsync_dir, write_atomic, write_failed

STATE, META = "state.pt", "meta.json"
SHORT_WRITE = re.compile(r"unexpected pos|file write failed|PytorchStreamWriter failed")
"""How torch's zip writer words a write the disk did not take (it raises RuntimeError, not OSError)."""
FULL_KINDS = ("periodic", "demand", "stop")
FORMAT = 2
"""The layout this cockpit writes for vector observations. 1 (no `format` key): before checkpoints
carried one; 2 adds `timing` to `log_lines` (wall-clock records of their own)."""
REPLAY_FORMAT = 3
"""The layout of image runs' checkpoints: 2 with the replay as a manifest of segment files
(`replay`) instead of a buffer tensor. All three resume; a later one is refused."""


def checkpoints_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def _dir_name(step: int, kind: str) -> str:
    if kind == "best":
        return f"best-step-{step:09d}"
    return f"step-{step:09d}" + ("" if kind == "periodic" else f"-{kind}")


def path_of(run_dir: Path, step: int, kind: str) -> Path:
    """Where `save` writes a checkpoint of `kind` taken at `step`."""
    return checkpoints_dir(run_dir) / _dir_name(step, kind)


def _write_file(path: Path, write) -> None:
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def save(run_dir: Path, tensors: dict, meta: dict, keep: int = 3, pinned: Collection[str] = ()) -> Path:
    """Write a checkpoint of `meta["kind"]`; update `latest` (full kinds) or `best`; prune old periodic
    ones but those `pinned` (by name: the last full checkpoint before each live change, for rolling it back)."""
    root = checkpoints_dir(run_dir)
    root.mkdir(exist_ok=True)
    kind, step = meta["kind"], meta["step"]
    final = root / _dir_name(step, kind)
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    for stale in root.glob(".tmp-*"):  # left by a killed process (the run directory is locked: none is live)
        shutil.rmtree(stale, ignore_errors=True)
    import torch

    try:
        tmp.mkdir()
        _write_file(tmp / STATE, lambda f: torch.save(tensors, f))
        _write_file(tmp / META, lambda f: f.write(json.dumps(meta, indent=1).encode()))
        fsync_dir(tmp)
    except (OSError, RuntimeError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, RuntimeError) and not SHORT_WRITE.search(str(e)):
            raise
        raise write_failed(final, e) from None
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
        periodic = sorted(p for p in root.iterdir() if (m := FULL_NAMED.fullmatch(p.name)) and not m[2])
        for old in periodic[:-keep]:
            if old.name not in pinned:
                shutil.rmtree(old, ignore_errors=True)
    return final


POINTER_TARGET = re.compile(r"(best-)?step-\d{9}(-[a-z]+)?")
"""What `latest` and `best` may name: a checkpoint directory beside them, nothing else."""
NAMED = re.compile(r"(best-)?step-\d{9}(-demand|-stop)?")
"""The names `save` gives, which say the kind and step the metadata must hold."""
FULL_NAMED = re.compile(r"step-(\d{9})(-demand|-stop)?")
"""A full checkpoint's name; its group 1 is the step."""


def read_pointer(run_dir: Path, name: str) -> str | None:
    path = checkpoints_dir(run_dir) / name
    try:
        target = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        reason = "not UTF-8 text" if isinstance(e, UnicodeDecodeError) else e.strerror
        raise CheckpointError(
            f"{path}: unreadable pointer ({reason}) (expected a checkpoint directory's name)"
        ) from None
    if target and not POINTER_TARGET.fullmatch(target):
        raise CheckpointError(
            f"{path}: names {target[:60]!r} (expected a checkpoint directory's name, e.g. step-000012000)"
        )
    return target or None


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
            raise CheckpointError(
                f"{checkpoints_dir(path) / name}: names {target}, which holds no {META} "
                "(expected an existing checkpoint directory)"
            )
    raise CheckpointError(
        f"{path}: no {prefer} checkpoint here (expected a run directory with checkpoints/ or a checkpoint directory)"
    )


FULL_META = (
    "episode",
    "config",
    "updates",
    "buffer_pos",
    "buffer_size",
    "dqn",
    "epsilon_segments",
    "rng",
    "action_space_rng",
    "python_random",
    "numpy_global",
    "episode_returns",
    "applied_changes",
    "best_eval",
    "last_eval",
    "first_step_reaching_target",
    "change_effects",
    "train_time_s",
    "eval_time_s",
)
FULL_TENSORS = (
    "q",
    "target",
    "optimizer",
    "buffer",
    "recent_actions",
    "action_counts",
    "pending_updates",
    "log_updates",
    "torch_rng",
    "numpy_global_keys",
)


REPLAY_IN_SEGMENTS = ("buffer", "buffer_pos", "buffer_size")
"""What an image run's checkpoint holds in its replay manifest instead."""


def load_full_meta(checkpoint: Path) -> dict:
    """The metadata of a full checkpoint (one a run can continue from), checked for everything a
    resume reads from it; no torch needed. Its tensors are checked when loaded (`load_full_tensors`)."""
    meta = load_meta(checkpoint)
    if meta["kind"] not in FULL_KINDS:
        raise CheckpointError(
            f"{checkpoint}: a '{meta['kind']}' checkpoint holds the policy only (expected a full checkpoint)"
        )
    needed = [k for k in FULL_META if k not in REPLAY_IN_SEGMENTS] if "replay" in meta else FULL_META
    missing = [f"{META}: {k}" for k in needed if k not in meta]
    if missing:
        raise CheckpointError(f"{checkpoint}: incomplete checkpoint, missing {', '.join(missing)}")
    check_full_meta(Path(checkpoint) / META, meta)
    if meta.get("replay"):
        folder = replay_segments.replay_dir(run_dir_of(checkpoint))
        for name in sorted(replay_segments.files_of(meta["replay"])):
            if not (folder / name).is_file():
                raise replay_segments.ReplaySegmentError(
                    f"{folder / name}: missing replay segment ({checkpoint.name} refers to it)"
                )
    return meta


def load_full_tensors(checkpoint: Path) -> dict:
    """The tensors of a full checkpoint (its metadata checked by `load_full_meta`), checked for
    everything a resume reads."""
    tensors = load_tensors(checkpoint)
    image = "replay" in load_meta(checkpoint)
    missing = [f"{STATE}: {k}" for k in FULL_TENSORS if k not in tensors and not (image and k in REPLAY_IN_SEGMENTS)]
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
    """A checkpoint's metadata with what every checkpoint holds checked: kind, counters, config."""
    checkpoint = Path(checkpoint)
    path = checkpoint / META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: unreadable checkpoint metadata ({e})") from None
    if not isinstance(meta, dict) or meta.get("kind") not in (*FULL_KINDS, "best") or "step" not in meta:
        raise CheckpointError(f"{path}: not a cockpit checkpoint (expected kind and step)")
    version = meta.get("format", 1)
    if version not in (1, FORMAT, REPLAY_FORMAT):
        raise CheckpointError(
            f"{path}: format = {version!r}: written by a newer cockpit (expected format 1 to {REPLAY_FORMAT}; "
            "upgrade cockpit)"
        )
    check = Checker(path, meta)
    check.count("step")
    if "episode" in meta:
        check.count("episode", at_most=meta["step"])
    check.that("exact", isinstance(meta.get("exact", True), bool), "true or false")
    check.that("run_name", isinstance(meta.get("run_name", ""), str), "a string")
    if NAMED.fullmatch(checkpoint.name) and checkpoint.name != _dir_name(meta["step"], meta["kind"]):
        raise CheckpointError(
            f"{path}: kind {meta['kind']!r} at step {meta['step']} in {checkpoint.name} "
            "(expected the kind and step its directory is named for; swapped from another checkpoint?)"
        )
    if "config" in meta:
        check.that("config", isinstance(meta["config"], dict), "the run's config tables")
        build_config(meta["config"], f"{path}: config")
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
