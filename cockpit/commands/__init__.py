"""Subcommands beyond training a run (`cockpit COMMAND ...`), one module each, imported on use."""
