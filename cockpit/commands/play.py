"""`cockpit play PRESET`: act in the preset's environment from the keyboard and watch what comes back."""

from __future__ import annotations

import argparse

from cockpit.engine.config import ConfigError
from cockpit.presets import add_override_flags, overrides_from, resolve_config


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cockpit play",
        description="Render the preset's environment in the terminal and act from the keyboard: keys 1-9, 0, "
        "a-h pick an action (key 1 is action 0); a game that names its actions (Atari) shows each key's "
        "name and gets the arrows for its directions and space for FIRE, other envs the arrows where they "
        "fit; n steps randomly, R resets with the next seed, q quits. Each step shows the observation (an "
        "image summarised), the reward, terminated/truncated and the return.",
    )
    p.add_argument("preset", help="a TOML preset with [env], [dqn] and [run] tables")
    add_override_flags(p)
    p.add_argument("--seed", type=int, help="override run.seed (the reset seeds derive from it)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    config = resolve_config(args.preset, overrides_from(args.set_file, args.set), seed=args.seed)
    from cockpit.engine.envs import describe_exception
    from cockpit.ui.play_app import create_play_app

    try:
        app = create_play_app(config)  # the first reset and render happen here
    except ConfigError:
        raise
    except (Exception, SystemExit) as e:
        raise ConfigError(
            f"{args.preset}: env.id = {config.env.id!r}: the environment raised "
            f"{describe_exception(e)} on its first reset (expected reset() and render() to run)"
        ) from None
    app.run()
    return 0
