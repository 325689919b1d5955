"""Building the cockpit for a run (the factory the CLI and the tests share) and running it."""

from __future__ import annotations

from pathlib import Path

from cockpit.engine.config import Config
from cockpit.engine.control import Control
from cockpit.engine.metrics import MetricsStore
from cockpit.ui.app import CockpitApp


def title_of(config: Config) -> str:
    return f"cockpit · {config.env.id} · {config.name} · seed {config.run.seed}"


def create_app(
    config: Config,
    run_dir: Path | None,
    checkpoint: Path | None = None,
    fork: bool = False,
    changes=(),
    refresh_s: float | None = None,
) -> CockpitApp:
    """The cockpit on a new (or resumed, or forked) run; the trainer is built in the app's worker
    thread, so the first frame does not wait for torch."""
    control, store = Control(), MetricsStore()

    def make_trainer():
        from cockpit.engine.trainer import Trainer

        trainer = Trainer(config, run_dir, control=control, store=store, on_non_finite="pause", changes=changes)
        if checkpoint is not None:
            trainer.resume_from(checkpoint, fork=fork)
        return trainer

    def render_episode(policy: dict, number: int):
        from cockpit.engine import seeding
        from cockpit.engine.rendering import play_greedy

        return play_greedy(config, policy, seeding.derive(config.run.seed, seeding.RENDER, number))

    kwargs = {} if refresh_s is None else {"refresh_s": refresh_s}
    return CockpitApp(title_of(config), control, store, make_trainer, run_dir, render_episode, **kwargs)


def run_ui(config: Config, run_dir: Path, checkpoint: Path | None = None, fork: bool = False, changes=()) -> int:
    """The cockpit until `q` or a signal. Exit code as headless: 0 finished or stopped from the UI,
    130 / 143 / 129 ended by SIGINT (or ctrl+c) / SIGTERM / SIGHUP, 1 failed."""
    app = create_app(config, run_dir, checkpoint, fork, changes)
    app.run()
    if app.refused is not None:  # e.g. a checkpoint whose tensors do not load: one line, exit 2
        raise app.refused
    state = app.store.status.get("state")
    if app.summary:
        print(f"cockpit: run {app.summary['status']} · {run_dir}")
    if state == "failed":
        return 1
    return 128 + app.signals[0] if app.signals else 0
