"""The `cockpit` command: parse arguments, validate the preset, then hand over to a front end.

Only the standard library and the config module are imported before validation, so `--help`
answers at once and a bad preset is reported before torch is loaded.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from cockpit.engine.config import Config, ConfigError, apply_overrides, build_config, load_preset

EXIT_BAD_INPUT = 2


def run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    parser.add_argument("preset", nargs="?", help="a TOML preset with [env], [dqn] and [run] tables")
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR_OR_CHECKPOINT",
        help="continue a run in its directory from its latest full checkpoint (or the one named)",
    )
    parser.add_argument(
        "--fork",
        type=Path,
        metavar="CHECKPOINT_OR_RUN_DIR",
        help="start a new run from a checkpoint (a run directory: its latest), with --set overrides; "
        "its metadata names its parent",
    )
    parser.add_argument(
        "--before-change",
        type=int,
        metavar="K",
        help="with --fork RUN_DIR: roll back the run's K-th live change (numbered as in its events): "
        "start from the last full checkpoint before it, or replay the run up to it",
    )
    parser.add_argument(
        "--replay",
        type=Path,
        metavar="RUN_DIR",
        help="run a run's config again with its recorded live changes at the steps they took effect "
        "(same machine and versions: bit for bit)",
    )
    parser.add_argument("--no-ui", action="store_true", help="run headless: progress on stdout, for servers")
    parser.add_argument("--seed", type=int, help="override run.seed")
    parser.add_argument("--total-steps", type=int, help="override run.total_steps")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="TABLE.KEY=VALUE",
        help="override any preset key, e.g. dqn.learning_rate=1e-3 (repeatable)",
    )
    parser.add_argument(
        "--run-dir", type=Path, help="the run directory to create (default runs/<env>-<preset>-s<seed>-<time>)"
    )
    return parser


def resolve_config(
    args: argparse.Namespace, base: Config | None = None, source: Path | None = None, workers: int = 1
) -> Config:
    """The preset (or `base`, the config of the run dir `source`) with `--set`, `--seed` and
    `--total-steps` applied, its env, device and memory checked (for `workers` runs at once);
    errors name the preset or `source`."""
    where = str(source or args.preset)
    overrides = list(args.set)
    if args.seed is not None:
        overrides.append(f"run.seed={args.seed}")
    if args.total_steps is not None:
        overrides.append(f"run.total_steps={args.total_steps}")
    if base is None:
        config = load_preset(args.preset, overrides)
    else:
        config = apply_overrides(base.to_dict(), overrides, where, base.name)
    check_runnable(config, where, workers)
    return config


def check_runnable(config: Config, where: str, workers: int = 1) -> None:
    """The env can be made, the device exists and `workers` runs of the config fit in the memory
    available; errors name `where` (a preset, a run dir, a sweep flag)."""
    from cockpit.engine.envs import inspect_env  # gymnasium, not torch
    from cockpit.engine.resources import check_memory, check_threads

    try:
        check_threads(config)
        info = inspect_env(config.env)
        check_device(config.run.device)
        check_memory(config, info.obs_dim, info.n_actions, workers)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def check_device(device: str) -> None:
    """Refuse a device torch cannot use, before a run directory exists (imports torch only for cuda)."""
    if device == "cpu":
        return
    import torch

    index = int(device.partition(":")[2] or 0)
    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        found = torch.cuda.device_count() if torch.cuda.is_available() else 0
        raise ConfigError(
            f"run.device = {device!r}: not available here ({found} CUDA devices; expected 'cpu' or an existing cuda:N)"
        )


def cmd_run(argv: list[str]) -> int:
    parser = run_parser()
    args = parser.parse_args(argv)
    if args.before_change is not None and not args.fork:
        raise ConfigError(f"--before-change {args.before_change}: only with --fork RUN_DIR")
    sources = [name for name in ("preset", "resume", "fork", "replay") if getattr(args, name)]
    if len(sources) != 1:
        raise ConfigError(
            "expected exactly one of PRESET, --resume RUN_DIR_OR_CHECKPOINT, --fork CHECKPOINT, --replay RUN_DIR"
        )
    from cockpit.engine.runlog import claim_lock, create_run_dir, default_run_dir, lock_run_dir

    checkpoint, changes, created, new_parents, found_in_lock = None, [], None, [], None
    if args.resume:
        changed = [
            flag for flag, value in (("--set", args.set), ("--seed", args.seed), ("--run-dir", args.run_dir)) if value
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
            config = resolve_config(args, parent, source=args.fork)
            check_fork_overrides(parent, config)
            check_steps_left(f"--fork {args.fork}", meta["step"], config)
        elif args.replay:
            if args.set or args.seed is not None:
                raise ConfigError(f"--replay {args.replay}: --set and --seed cannot change a replay (use --fork)")
            config = resolve_config(args, run_dir_config(args.replay), source=args.replay)
            changes = recorded_changes(args.replay)
        else:
            config = resolve_config(args)
        wanted = Path(args.run_dir or default_run_dir(config))
        new_parents = [p for p in wanted.parents if not p.exists()]  # made for it, and removed with it
        run_dir = created = create_run_dir(wanted)
        lock = lock_run_dir(run_dir)
    try:
        if args.no_ui:
            from cockpit.headless import run_headless

            return run_headless(config, run_dir, checkpoint=checkpoint, fork=bool(args.fork), changes=changes)
        from cockpit.ui.launch import run_ui

        return run_ui(config, run_dir, checkpoint=checkpoint, fork=bool(args.fork), changes=changes)
    except ConfigError:
        # Refused before the run started (a checkpoint's tensors are checked as the trainer loads
        # them): a directory made for it holds nothing but its lock, and goes.
        if found_in_lock is not None:  # a resume refused as its tensors loaded: the directory as it was
            claim_lock(lock, found_in_lock)
        if created is not None and {p.name for p in created.iterdir()} <= {".lock"}:
            shutil.rmtree(created, ignore_errors=True)
            for parent in new_parents:  # nearest first; one that another process filled meanwhile stays
                try:
                    parent.rmdir()
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
    meta = plan.meta
    if plan.own_checkpoint:  # the run as it was at its checkpoint: its live changes included
        base = build_config(
            {**meta["config"], "dqn": meta["dqn"]}, str(plan.checkpoint), name=meta.get("run_name", "custom")
        )
    else:  # the run's own config: replayed from its start, or a fork forked again from its parent's checkpoint
        base = run_dir_config(args.fork)
    config = resolve_config(args, base, source=args.fork)
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


def run_dir_config(run_dir: Path) -> Config:
    """The resolved config a run directory was started with (its total_steps as last resumed)."""
    from cockpit.engine.history import read_config_tables, read_metadata

    tables = read_config_tables(run_dir)
    name = read_metadata(run_dir).get("preset", "custom")
    return build_config(tables, str(Path(run_dir) / "config.toml"), name=name)


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


EVAL_EPISODES_MAX = 100_000
"""Every return is kept and printed: beyond this, `--episodes` is a typo, not a wish."""


def cmd_eval(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cockpit eval", description="Greedy evaluation of a saved policy.")
    parser.add_argument("path", type=Path, help="a checkpoint directory, or a run directory (its best policy)")
    parser.add_argument("--episodes", type=int, help="episodes to run (default: the run's eval_episodes)")
    parser.add_argument("--seed", type=int, help="derive the evaluation seeds from this (default: the run's seed)")
    parser.add_argument("--gif", type=Path, help="record the first episode as a GIF here")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.episodes is not None and not 0 < args.episodes <= EVAL_EPISODES_MAX:
        raise ConfigError(f"--episodes {args.episodes}: expected an integer in [1, {EVAL_EPISODES_MAX:,}]")
    if args.seed is not None and not 0 <= args.seed < 2**63:
        raise ConfigError(f"--seed {args.seed}: expected an integer in [0, 2**63)")
    from cockpit.engine.evaluation import evaluate_checkpoint

    result = evaluate_checkpoint(args.path, args.episodes, args.seed, args.gif)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['checkpoint']} (step {result['step']:,}), {len(result['returns'])} greedy episodes, seed {result['seed']}"
        )
        print(f"mean {result['mean']:.2f} ± {result['std']:.2f}")
        print("returns " + " ".join(f"{r:g}" for r in result["returns"]))
        if result["gif"]:
            print(f"gif {result['gif']}")
    return 0


COMMANDS = {
    "eval": "cockpit.cli:cmd_eval",
    "check": "cockpit.commands.check:main",
    "play": "cockpit.commands.play:main",
    "seeds": "cockpit.commands.seeds:main",
    "tune": "cockpit.commands.tune:main",
    "compare": "cockpit.commands.compare:main",
    "attach": "cockpit.commands.attach:main",
    "ctl": "cockpit.commands.ctl:main",
    "ls": "cockpit.commands.ls:main",
}
"""Subcommands: NAME -> "module:function(argv) -> exit code", imported only when used."""


def run_command(name: str, argv: list[str]) -> int:
    import importlib

    module, _, function = COMMANDS[name].partition(":")
    return getattr(importlib.import_module(module), function)(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] in COMMANDS:
            return run_command(argv[0], argv[1:])
        return cmd_run(argv)
    except ConfigError as e:
        print(f"cockpit: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
