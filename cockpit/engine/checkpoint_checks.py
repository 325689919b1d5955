"""Checking a checkpoint's metadata before anything is loaded: a damaged or crafted file is refused
in one line naming the file, the key, its value and what was expected, never partway through a resume."""

from __future__ import annotations

import random
from pathlib import Path

from cockpit.engine.config import LIVE_KEYS, ConfigError, build_config
from cockpit.engine.config_values import is_int, is_number


class CheckpointError(ConfigError):
    """A checkpoint that cannot be loaded; the CLI reports it in one line and exits 2."""


class ReplaySegmentError(CheckpointError):
    """A replay manifest or segment file that cannot be loaded; reported in one line, exit 2."""


MANIFEST_FORMAT = 1
"""The layout of an image replay's manifest (`replay_segments`)."""


class Checker:
    """One-line refusals naming the metadata file, the key, its value and what was expected."""

    def __init__(self, path: Path, meta: dict):
        self.path, self.meta = path, meta

    def that(self, key: str, ok: bool, expected: str) -> None:
        if not ok:
            shown = repr(self.meta.get(key))
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise CheckpointError(f"{self.path}: {key} = {shown}: expected {expected}")

    def count(self, key: str, at_most: int | None = None) -> None:
        value = self.meta.get(key)
        bound = "" if at_most is None else f" and at most step ({at_most})"
        self.that(
            key,
            isinstance(value, int) and is_int(value) and value >= 0 and (at_most is None or value <= at_most),
            f"an integer >= 0{bound}",
        )

    def number(self, key: str, optional: bool = False) -> None:
        value = self.meta.get(key)
        self.that(
            key, (optional and value is None) or is_number(value), "a finite number" + (" or null" if optional else "")
        )


def check_full_meta(path: Path, meta: dict) -> None:
    """Types, ranges and consistency of what a resume puts back: a damaged file is refused here, not
    partway through loading or some steps into the run."""
    check, step = Checker(path, meta), meta["step"]
    check.that("config", isinstance(meta["config"], dict), "the run's config tables")
    config = build_config(meta["config"], f"{path}: config")
    check.that("dqn", isinstance(meta["dqn"], dict), "a table of the dqn values in force")
    dqn = build_config({"dqn": {**config.to_dict()["dqn"], **meta["dqn"]}}, str(path)).dqn
    fixed = [k for k in meta["dqn"] if k not in LIVE_KEYS and meta["dqn"][k] != getattr(config.dqn, k)]
    check.that(
        "dqn",
        not fixed,
        f"{', '.join(f'dqn.{k}' for k in fixed)} as in the checkpoint's config (they never change live)",
    )
    check.count("episode", at_most=step)
    check.count("updates")
    capacity = dqn.buffer_size
    if "replay" in meta:
        _check_replay(check, meta, capacity)
    else:
        _check_vector_buffer(check, meta, capacity)
    segments = meta["epsilon_segments"]
    check.that(
        "epsilon_segments",
        isinstance(segments, list) and bool(segments) and all(_is_segment(s, step) for s in segments),
        "a list of {start_step <= step, start_value and end_value in [0, 1], duration > 0}",
    )
    for key in ("rng", "action_space_rng"):
        check.that(key, _is_generator_state(meta[key]), "a numpy PCG64 generator state")
    if "replay_sampler" in meta:
        sampler = meta["replay_sampler"]
        check.that(
            "replay_sampler",
            isinstance(sampler, dict)
            and _is_generator_state(sampler.get("pool_state"))
            and is_int(sampler.get("pos"))
            and sampler["pos"] >= 0,
            "{pool_state: a PCG64 state, pos: an integer >= 0}",
        )
    check.that("python_random", _is_python_random_state(meta["python_random"]), "a state of Python's random module")
    g = meta["numpy_global"]
    check.that(
        "numpy_global",
        isinstance(g, dict)
        and g.get("name") == "MT19937"
        and is_int(g.get("pos"))
        and 0 <= g["pos"] <= 624
        and g.get("has_gauss") in (0, 1)
        and is_number(g.get("cached")),
        "{name: MT19937, pos in [0, 624], has_gauss 0 or 1, cached: a number}",
    )
    returns = meta["episode_returns"]
    check.that(
        "episode_returns", isinstance(returns, list) and all(is_number(r) for r in returns), "a list of finite numbers"
    )
    check.number("best_eval", optional=True)
    last = meta["last_eval"]
    check.that(
        "last_eval",
        last is None
        or (
            isinstance(last, dict)
            and is_int(last.get("step"))
            and 0 <= last["step"] <= step
            and is_number(last.get("mean"))
        ),
        "null or an evaluation at or before step",
    )
    first = meta["first_step_reaching_target"]
    check.that(
        "first_step_reaching_target",
        first is None or (is_int(first) and 0 <= first <= step),
        f"null or a step in [0, {step}]",
    )
    changes = meta["applied_changes"]
    check.that(
        "applied_changes",
        isinstance(changes, list) and all(_is_change(c, step) for c in changes),
        "a list of {step <= step, key: a live key, value}",
    )
    for change in changes:
        build_config({"dqn": {change["key"]: change["value"]}}, f"{path}: applied_changes", cross_checks=False)
    check.that(
        "change_effects",
        isinstance(meta["change_effects"], list) and all(isinstance(e, dict) for e in meta["change_effects"]),
        "a list of objects",
    )
    for key in ("train_time_s", "eval_time_s"):
        check.that(key, is_number(meta[key]) and meta[key] >= 0, "a number of seconds >= 0")
    lines = meta.get("log_lines")
    check.that(
        "log_lines",
        lines is None
        or (
            isinstance(lines, dict)
            and set(lines) in ({"metrics", "events"}, {"metrics", "events", "timing"})
            and all(is_int(n) and n >= 0 for n in lines.values())
        ),
        "null or {metrics, events[, timing]: line counts >= 0}",
    )


def _check_vector_buffer(check: Checker, meta: dict, capacity: int) -> None:
    step = meta["step"]
    check.that(
        "buffer_size",
        is_int(meta["buffer_size"]) and 0 <= meta["buffer_size"] <= min(step, capacity),
        f"an integer from 0 to min(step, dqn.buffer_size) = {min(step, capacity)}",
    )
    full = meta["buffer_size"] == capacity
    check.that(
        "buffer_pos",
        is_int(meta["buffer_pos"])
        and (0 <= meta["buffer_pos"] < capacity if full else meta["buffer_pos"] == meta["buffer_size"]),
        f"an integer in [0, {capacity})" if full else f"buffer_size ({meta['buffer_size']}) while the buffer fills",
    )


def _check_replay(check: Checker, meta: dict, capacity: int) -> None:
    """An image run's replay: a manifest of the run's segment files, or null where the disk budget
    dropped it (then `replay_dropped` says why)."""
    replay = meta["replay"]
    if replay is None:
        check.that("replay_dropped", isinstance(meta.get("replay_dropped"), str), "why the replay was dropped")
        return
    check_manifest(replay, f"{check.path}: replay")
    if replay["capacity"] != capacity:
        raise ReplaySegmentError(
            f"{check.path}: replay capacity = {replay['capacity']}: expected dqn.buffer_size ({capacity})"
        )
    most = 2 * meta["step"]  # a step writes its next frame, and its first where it starts an episode
    if replay["written"] > most:
        raise ReplaySegmentError(
            f"{check.path}: replay written = {replay['written']}: expected at most 2 x step ({most})"
        )


def check_manifest(manifest, where: str = "replay manifest") -> None:
    """A replay manifest's keys, types and consistency, one line naming what is wrong."""

    def need(ok: bool, key: str, expected: str) -> None:
        if not ok:
            shown = repr(manifest.get(key) if isinstance(manifest, dict) else manifest)
            raise ReplaySegmentError(f"{where}: {key} = {shown[:60]}: expected {expected}")

    def count(value, least: int = 0) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= least

    need(isinstance(manifest, dict), "manifest", "a dict")
    need(manifest.get("format") == MANIFEST_FORMAT, "format", str(MANIFEST_FORMAT))
    need(count(manifest.get("capacity"), 2), "capacity", "an integer >= 2")
    shape = manifest.get("frame_shape")
    need(isinstance(shape, list) and 1 <= len(shape) <= 4 and all(count(n, 1) for n in shape), "frame_shape", "sizes")
    need(count(manifest.get("frame_stack"), 1), "frame_stack", "an integer >= 1")
    need(count(manifest.get("segment_slots"), 1), "segment_slots", "an integer >= 1")
    need(count(manifest.get("written")), "written", "an integer >= 0")
    need(isinstance(manifest.get("open"), bool), "open", "true or false")
    segments = manifest.get("segments")
    length = -(-manifest["capacity"] // manifest["segment_slots"])
    need(
        isinstance(segments, list)
        and len(segments) == length
        and all(
            s is None or (isinstance(s, list) and len(s) == 2 and count(s[0], 1) and count(s[1])) for s in segments
        ),
        "segments",
        f"{length} entries of null or [version, crc32]",
    )


def _is_segment(segment, step: int) -> bool:
    return (
        isinstance(segment, dict)
        and set(segment) == {"start_step", "start_value", "end_value", "duration"}
        and is_int(segment["start_step"])
        and 0 <= segment["start_step"] <= step
        and all(is_number(segment[k]) and 0 <= segment[k] <= 1 for k in ("start_value", "end_value"))
        and is_int(segment["duration"])
        and segment["duration"] > 0
    )


def _is_change(change, step: int) -> bool:
    return (
        isinstance(change, dict)
        and is_int(change.get("step"))
        and 0 <= change["step"] <= step
        and change.get("key") in LIVE_KEYS
        and "value" in change
    )


def _is_generator_state(state) -> bool:
    import numpy as np

    try:
        np.random.PCG64().state = state
    except (TypeError, ValueError, KeyError, OverflowError):
        return False
    return True


def _is_python_random_state(state) -> bool:
    try:
        random.Random().setstate((state[0], tuple(state[1]), state[2]))
    except (TypeError, ValueError, KeyError, IndexError, OverflowError):
        return False
    return True
