"""The training engine: config, env, agent, buffer, trainer, evaluation, run log.

Nothing here imports Textual or any UI library; front ends (the headless runner, the Textual
app, a remote viewer) drive it through `control` (commands in) and `metrics` (figures out).
Submodules are imported explicitly so that `cockpit --help` and config errors never pay for torch.
"""
