"""Rolling back a bad live change: the last full checkpoint before each change survives retention,
and `cockpit --fork RUN_DIR --before-change K` continues the run as if change K had never been made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tiny import tiny_config

from cockpit import cli
from cockpit.engine import checkpoints
from cockpit.engine.config import build_config
from cockpit.engine.contract import Event
from cockpit.engine.trainer import Trainer
from cockpit.text import event_line

RUN = {"total_steps": 900, "eval_freq": 100, "checkpoint_keep": 1}
CHANGES = [{"step": 50, "key": "learning_rate", "value": 2e-3}, {"step": 500, "key": "gamma", "value": 0.9}]
"""The first before any checkpoint (rolled back by replaying), the second after several."""


def changing_at(changes: list[dict]):
    """A step hook that makes each change live, through the control surface, at its step."""

    def hook(trainer, action, result):
        for change in changes:
            if trainer.step == change["step"]:
                trainer.control.set(change["key"], change["value"], source="ctl")
        return result

    return hook


def final_state(run_dir: Path) -> dict:
    checkpoint = checkpoints.find(run_dir)
    state = torch.load(checkpoint / "state.pt", weights_only=True)
    return {
        "step": json.loads((checkpoint / "meta.json").read_text())["step"],
        "q": state["q"],
        "buffer": state["buffer"],
    }


def assert_same_state(a: dict, b: dict) -> None:
    assert a["step"] == b["step"]
    assert torch.equal(a["buffer"], b["buffer"])
    assert all(torch.equal(a["q"][k], b["q"][k]) for k in a["q"])


@pytest.fixture(scope="module")
def changed_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rollback")
    trainer = Trainer(tiny_config(run=RUN), root / "run")
    trainer.step_hook = changing_at(CHANGES)
    assert trainer.run()["status"] == "finished"
    return root / "run"


def hparam_events(run_dir: Path) -> list[dict]:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    return [e for e in events if e["kind"] == "hparam"]


def test_the_checkpoint_before_a_live_change_outlives_retention(changed_run):
    first, second = hparam_events(changed_run)
    assert (first["number"], second["number"]) == (1, 2)
    assert first["checkpoint"] is None, "no checkpoint precedes step 50"
    assert second["rollback"] == f"cockpit --fork {changed_run} --before-change 2"
    line = event_line(Event.from_dict(second))
    assert "#2 gamma 0.99 → 0.9" in line and line.endswith(f"roll back: cockpit --fork {changed_run} --before-change 2")
    pinned = checkpoints.checkpoints_dir(changed_run) / second["checkpoint"]
    meta = json.loads((pinned / "meta.json").read_text())
    assert meta["kind"] == "periodic" and meta["step"] <= second["step"]
    periodic = [
        p.name
        for p in checkpoints.checkpoints_dir(changed_run).iterdir()
        if p.name.startswith("step-") and p.name[-1].isdigit()
    ]
    assert len(periodic) == 2, f"keep = 1 plus the pinned one: {periodic}"


@pytest.mark.parametrize("number", [2, 1], ids=["from-the-pinned-checkpoint", "replayed-from-the-start"])
def test_before_change_k_continues_as_if_k_had_never_been_made(changed_run, tmp_path, capsys, number):
    fork = tmp_path / "fork"
    assert (
        cli.main(["--fork", str(changed_run), "--before-change", str(number), "--no-ui", "--run-dir", str(fork)]) == 0
    )
    said = capsys.readouterr().out
    assert f"rolling back change {number}" in said
    assert ("no full checkpoint precedes it" in said) == (number == 1)
    reference = Trainer(tiny_config(run=RUN), tmp_path / "reference")
    reference.step_hook = changing_at(CHANGES[: number - 1])
    reference.run()
    assert_same_state(final_state(fork), final_state(tmp_path / "reference"))


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--before-change", "1"], "--before-change 1: only with --fork RUN_DIR"),
        (["--fork", "{run}", "--before-change", "3"], "the run recorded 2 live changes (expected K from 1 to 2)"),
        (["--fork", "{run}", "--before-change", "0"], "the run recorded 2 live changes (expected K from 1 to 2)"),
    ],
)
def test_a_rollback_that_cannot_be_done_is_refused_in_one_line(changed_run, tmp_path, capsys, argv, expected):
    argv = [a.format(run=changed_run) for a in argv] + ["--no-ui", "--run-dir", str(tmp_path / "fork")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.splitlines()) == 1
    assert not (tmp_path / "fork").exists()


def test_a_fork_numbers_its_own_changes_and_rolls_one_back_from_its_parents_checkpoint(changed_run, tmp_path, capsys):
    pinned = checkpoints.checkpoints_dir(changed_run) / hparam_events(changed_run)[1]["checkpoint"]
    meta = json.loads((pinned / "meta.json").read_text())
    config = build_config({**meta["config"], "dqn": meta["dqn"]}, "parent", name="tiny")
    fork = Trainer(config, tmp_path / "fork")
    fork.resume_from(pinned, fork=True)
    fork.step_hook = changing_at([{"step": meta["step"] + 20, "key": "gamma", "value": 0.95}])
    assert fork.run()["status"] == "finished"
    (change,) = hparam_events(tmp_path / "fork")
    assert change["number"] == 1 and change["checkpoint"] is None, "the parent's two changes keep their numbers"
    assert (
        cli.main(
            ["--fork", str(tmp_path / "fork"), "--before-change", "1", "--no-ui", "--run-dir", str(tmp_path / "again")]
        )
        == 0
    )
    assert "forked again from its parent's" in capsys.readouterr().out
    assert cli.main(["--fork", str(pinned), "--no-ui", "--run-dir", str(tmp_path / "reference")]) == 0
    assert_same_state(final_state(tmp_path / "again"), final_state(tmp_path / "reference"))
