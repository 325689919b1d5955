"""The `cockpit` subcommands, one module each with `main(argv) -> exit code`, imported on use;
`run` is the default (`cockpit PRESET`). They share what they need through the layers below:
`cockpit.presets`, the sweeps, the front ends, the engine."""
