"""The `cockpit` command: pick the subcommand, run it, and turn bad input into one line and exit 2.

Each subcommand lives in `cockpit.commands` and is imported only when used, so `--help` answers at
once and a bad preset is reported before torch is loaded. Without a subcommand, `cockpit PRESET`
starts (or resumes, forks, replays) a run: `cockpit.commands.run`.
"""

from __future__ import annotations

import importlib
import sys

from cockpit.engine.config import ConfigError

EXIT_BAD_INPUT = 2

COMMANDS = {
    "eval": "cockpit.commands.eval",
    "check": "cockpit.commands.check",
    "play": "cockpit.commands.play",
    "seeds": "cockpit.commands.seeds",
    "tune": "cockpit.commands.tune",
    "compare": "cockpit.commands.compare",
    "attach": "cockpit.commands.attach",
    "ctl": "cockpit.commands.ctl",
    "ls": "cockpit.commands.ls",
}
"""Subcommands: NAME -> the module whose `main(argv)` returns the exit code."""

RUN = "cockpit.commands.run"
"""What `cockpit` does without a subcommand."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    module, args = (COMMANDS[argv[0]], argv[1:]) if argv and argv[0] in COMMANDS else (RUN, argv)
    try:
        return importlib.import_module(module).main(args)
    except ConfigError as e:
        print(f"cockpit: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
