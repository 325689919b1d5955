"""`cockpit PRESET` (and `--resume`, `--fork`, `--replay`): start or continue a run, then hand it
to a front end (the cockpit, or headless with --no-ui).

Everything is checked before a byte is written: the preset, the checkpoint's metadata, the logs a
resume cuts back. Only the standard library and the config module are imported before that, so
`--help` answers at once and a bad preset is reported before torch is loaded.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from cockpit.engine.config import Config, ConfigError, apply_overrides, build_config
from cockpit.presets import add_override_flags, overrides_from, resolve_config, run_dir_config


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cockpit",
        description="Train DQN on a preset and watch or steer it live (Textual UI), or headless with --no-ui.",
        epilog="examples:\n"
        "  cockpit presets/cartpole.toml\n"
        "  cockpit presets/cartpole.toml --no-ui --seed 3 --set dqn.learning_rate=1e-3\n"
        "  cockpit presets/cartpole.toml --no-ui --set env.id=Acrobot-v1 --total-steps 20000\n"
        "  cockpit --resume runs/CartPole-v1-cartpole-s1-20261124-120000 --no-ui --total-steps 100000\n"
        "  cockpit --fork runs/.../checkpoints/step-000020000 --set dqn.learning_rate=1e-4\n"
        "  cockpit --fork runs/CartPole-v1-cartpole-s1-20261124-120000 --before-change 2   # roll back a live change\n"
        "\nother commands (cockpit COMMAND --help):\n"
        "  eval     greedy evaluation of a saved policy\n"
        "  check    walk the debugging hierarchy on a preset: reward, env, learning, exploration, hyperparameters\n"
        "  play     act in the preset's environment from the keyboard\n"
        "  seeds    several seeds of a preset, aggregated with confidence intervals\n"
        "  tune     one hyperparameter at a time, or an Optuna search\n"
        "  compare  overlay the evaluation curves of finished runs\n"
        "  attach   open the cockpit on a headless run (--web: in a browser, with a token)\n"
        "  ctl      pause|resume|eval|checkpoint|stop|set KEY=VALUE|status a headless run, for scripts\n"
        "  ls       the runs under a folder: state, step, last evaluation, attachable",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("preset", nargs="?", help="a TOML preset with [env], [dqn] and [run] tables")
    p.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR_OR_CHECKPOINT",
        help="continue a run in its directory from its latest full checkpoint (or the one named)",
    )
    p.add_argument(
        "--fork",
        type=Path,
        metavar="CHECKPOINT_OR_RUN_DIR",
        help="start a new run from a checkpoint (a run directory: its latest), with --set overrides; "
        "its metadata names its parent",
    )
    p.add_argument(
        "--before-change",
        type=int,
        metavar="K",
        help="with --fork RUN_DIR: roll back the run's K-th live change (numbered as in its events): "
        "start from the last full checkpoint before it, or replay the run up to it",
    )
    p.add_argument(
        "--replay",
        type=Path,
        metavar="RUN_DIR",
        help="run a run's config again with its recorded live changes at the steps they took effect "
        "(same machine and versions: bit for bit)",
    )
    p.add_argument("--no-ui", action="store_true", help="run headless: progress on stdout, for servers")
    p.add_argument(
        "--baseline",
        type=Path,
        metavar="RUN_DIR",
        help="draw another run's evaluations and training returns on the return chart, to beat "
        "(default for a fork: its parent)",
    )
    p.add_argument("--seed", type=int, help="override run.seed")
    p.add_argument("--total-steps", type=int, help="override run.total_steps")
    add_override_flags(
        p,
        "override any preset key, e.g. dqn.learning_rate=1e-3 (repeatable); applied after --set-file, "
        "before --seed and --total-steps",
    )
    p.add_argument(
        "--run-dir",
        type=Path,
        help="the run directory to create (default runs/<env>-<preset>-s<seed>-<time>; "
        "from-<preset> when env.id is overridden)",
    )
    return p


def resolved(args: argparse.Namespace, base: Config | None = None, source: Path | None = None) -> Config:
    """The run's config: the preset (or `base`, read from `source`) with the flags applied, checked."""
    return resolve_config(
        source or args.preset,
        overrides_from(args.set_file, args.set),
        seed=args.seed,
        total_steps=args.total_steps,
        base=base,
    )


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.before_change is not None and not args.fork:
        raise ConfigError(f"--before-change {args.before_change}: only with --fork RUN_DIR")
    sources = [name for name in ("preset", "resume", "fork", "replay") if getattr(args, name)]
    if len(sources) != 1:
        raise ConfigError(
            "expected exactly one of PRESET, --resume RUN_DIR_OR_CHECKPOINT, --fork CHECKPOINT, --replay RUN_DIR"
        )
    if args.baseline is not None and args.no_ui:
        raise ConfigError(f"--baseline {args.baseline}: only for the cockpit (--no-ui draws no charts)")
    baseline = None
    if args.baseline is not None and not args.no_ui:
        from cockpit.ui.baseline import load_baseline

        baseline = load_baseline(args.baseline)  # a damaged run: one line, before anything is written
    from cockpit.engine.runlog import claim_lock, create_run_dir, default_run_dir, lock_run_dir

    checkpoint: Path | None = None
    changes: list[dict] = []
    created: Path | None = None
    new_parents: list[Path] = []
    found_in_lock: str | None = None
    if args.resume:
        changed = [
            flag
            for flag, value in (
                ("--set", args.set),
                ("--set-file", args.set_file),
                ("--seed", args.seed),
                ("--run-dir", args.run_dir),
            )
            if value
        ]
        if changed:
            raise ConfigError(
                f"--resume {args.resume}: {', '.join(changed)} cannot change on resume (only --total-steps can; use --fork)"
            )
        from cockpit.engine import checkpoints
        from cockpit.engine.history import check_logs_at, edited_keys

        named = (args.resume / checkpoints.META).exists()
        run_dir = checkpoints.run_dir_of(args.resume) if named else args.resume
        if not (run_dir / "config.toml").exists():
            raise ConfigError(f"--resume {args.resume}: not a run directory or a checkpoint in one (no config.toml)")
        lock = lock_run_dir(run_dir, claim=False)
        try:  # everything is checked before a byte is written: a damaged run directory is refused as it is
            checkpoint = checkpoints.find(args.resume)
            meta = checkpoints.load_full_meta(checkpoint)
            config = run_dir_config(run_dir)
            edited = edited_keys(config.to_dict(), build_config(meta["config"], str(checkpoint)).to_dict())
            if edited:
                raise ConfigError(
                    f"{run_dir / 'config.toml'}: {', '.join(edited)} differ from the config in {checkpoint / checkpoints.META} "
                    f"(expected the run's own config; change a run with --fork {checkpoint} --set KEY=VALUE)"
                )
            if args.total_steps is not None:
                config = apply_overrides(
                    config.to_dict(), [f"run.total_steps={args.total_steps}"], str(run_dir), config.name
                )
            check_steps_left(f"--resume {args.resume}", meta["step"], config)
            latest = checkpoints.read_pointer(run_dir, "latest") == checkpoint.name
            note = check_logs_at(run_dir, checkpoint, meta, latest=latest)
        except ConfigError:
            lock.close()
            raise
        found_in_lock = claim_lock(lock)
        if note:
            print(f"cockpit: {note}", flush=True)
    else:
        if args.fork and args.before_change is not None:
            checkpoint, changes, config = rollback_plan(args)
        elif args.fork:
            from cockpit.engine import checkpoints

            checkpoint = checkpoints.find(args.fork)
            meta = checkpoints.load_full_meta(checkpoint)
            # The parent as it was at the checkpoint: its live changes included, so that only --set differs.
            parent = build_config(
                {**meta["config"], "dqn": meta["dqn"]}, str(checkpoint), name=meta.get("run_name", "custom")
            )
            config = resolved(args, parent, args.fork)
            check_fork_overrides(parent, config)
            check_steps_left(f"--fork {args.fork}", meta["step"], config)
        elif args.replay:
            if args.set or args.set_file or args.seed is not None:
                raise ConfigError(
                    f"--replay {args.replay}: --set, --set-file and --seed cannot change a replay (use --fork)"
                )
            config = resolved(args, run_dir_config(args.replay), args.replay)
            changes = recorded_changes(args.replay)
        else:
            config = resolved(args)
        wanted = Path(args.run_dir or default_run_dir(config))
        new_parents = [p for p in wanted.parents if not p.exists()]  # made for it, and removed with it
        run_dir = created = create_run_dir(wanted)
        lock = lock_run_dir(run_dir)
    try:
        if args.no_ui:
            from cockpit.headless import run_headless

            return run_headless(config, run_dir, checkpoint=checkpoint, fork=bool(args.fork), changes=changes)
        from cockpit.ui.launch import fork_parent, run_ui

        if baseline is None and args.fork and checkpoint is not None:
            baseline = fork_parent(checkpoint)
        return run_ui(config, run_dir, checkpoint=checkpoint, fork=bool(args.fork), changes=changes, baseline=baseline)
    except ConfigError:
        # Refused before the run started (a checkpoint's tensors are checked as the trainer loads
        # them): a directory made for it holds nothing but its lock, and goes.
        if found_in_lock is not None:  # a resume refused as its tensors loaded: the directory as it was
            claim_lock(lock, found_in_lock)
        if created is not None and {p.name for p in created.iterdir()} <= {".lock"}:
            shutil.rmtree(created, ignore_errors=True)
            for made in new_parents:  # nearest first; one that another process filled meanwhile stays
                try:
                    made.rmdir()
                except OSError:
                    break
        raise
    finally:
        lock.close()


def rollback_plan(args: argparse.Namespace) -> tuple[Path | None, list[dict], Config]:
    """`--fork RUN_DIR --before-change K`: (checkpoint or None, changes to apply again, config)."""
    from cockpit.engine.rollback import before_change

    plan = before_change(args.fork, args.before_change)
    if plan.checkpoint is None and args.seed is not None:
        raise ConfigError(f"--fork {args.fork} --before-change {args.before_change}: --seed cannot change a replay")
    meta = plan.meta or {}
    if plan.own_checkpoint:  # the run as it was at its checkpoint: its live changes included
        base = build_config(
            {**meta["config"], "dqn": meta["dqn"]}, str(plan.checkpoint), name=meta.get("run_name", "custom")
        )
    else:  # the run's own config: replayed from its start, or a fork forked again from its parent's checkpoint
        base = run_dir_config(args.fork)
    config = resolved(args, base, args.fork)
    if plan.checkpoint is not None:
        check_fork_overrides(build_config(meta["config"], str(plan.checkpoint)), config)
        check_steps_left(f"--fork {args.fork}", meta["step"], config)
    print(f"cockpit: {plan.line}", flush=True)
    return plan.checkpoint, plan.changes, config


def check_steps_left(what: str, step: int, config: Config) -> None:
    if step >= config.run.total_steps:
        raise ConfigError(
            f"{what}: the checkpoint is at step {step:,}, run.total_steps = {config.run.total_steps:,} "
            f"(expected --total-steps above {step:,} to train further)"
        )


def recorded_changes(run_dir: Path) -> list[dict]:
    """The live changes a run applied, with the step each took effect, from its events.jsonl."""
    from cockpit.engine.history import read_live_changes, read_metadata

    changes = read_live_changes(run_dir, f"--replay {run_dir}")
    if read_metadata(run_dir).get("parent"):
        raise ConfigError(
            f"--replay {run_dir}: a fork starts from its parent's checkpoint; replay the parent, then fork"
        )
    return [{"step": e["step"], "key": e["key"], "value": e["new"]} for e in changes]


FORK_FIXED = (
    "env.id",
    "env.kwargs",
    "env.max_episode_steps",
    "env.normalize_obs",
    "env.clip_reward",
    "env.frame_stack",
    "env.channels_first",
    # The Atari preprocessing (atari.ATARI_KEYS, listed here so that --help need not import gymnasium).
    "env.frame_skip",
    "env.noop_max",
    "env.screen_size",
    "env.grayscale",
    "env.terminal_on_life_loss",
    "env.fire_reset",
    "env.repeat_action_probability",
    "dqn.network",
    "dqn.hidden_size",
    "dqn.hidden_layers",
    "dqn.buffer_size",
    "run.device",
)


def check_fork_overrides(parent: Config, child: Config) -> None:
    """A fork continues the parent's weights, buffer and env: their shapes and the env cannot change."""
    a, b = parent.to_dict(), child.to_dict()
    for fixed in FORK_FIXED:
        table, _, key = fixed.partition(".")
        old, new = a[table][key], b[table][key]
        if old != new:
            raise ConfigError(f"--fork: {fixed} = {new!r}: cannot change on a fork (the parent has {old!r})")
