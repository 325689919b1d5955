"""The engine's contract with its front ends: typed values that become the wire's and the files' dicts
and come back the same, including what older runs sent."""

from __future__ import annotations

import json

from tiny import tiny_config

from cockpit.engine.contract import ENDED, Evaluation, Event, PendingChange, Reply, RunState, RunStatus
from cockpit.engine.control import Command, CommandKind, Control
from cockpit.engine.metrics import MetricsStore
from cockpit.engine.trainer import Trainer


def test_one_vocabulary_of_run_states_with_the_ended_ones_named_once():
    assert {s.value for s in ENDED} == {"finished", "stopped", "failed"}
    assert RunState.parse("done") is RunState.FINISHED  # what older runs sent for finished
    assert RunState.parse("no such state") is RunState.UNKNOWN
    assert RunState.RUNNING.training and not RunState.PAUSED.training and RunState.STOPPED.ended


def test_a_status_goes_over_the_wire_and_comes_back_the_same():
    status = RunStatus(
        state=RunState.PAUSED,
        step=1200,
        total_steps=5000,
        hyperparameters={"learning_rate": 1e-3},
        q_range=(-1.0, 100.0),
        muted_alerts=("grad_spike",),
        last_eval=Evaluation(1000, True, 12.5, 1.5, (11.0, 14.0), (11, 14)),
        pending_change=PendingChange("gamma", 0.9, "ctl"),
        steps_per_s=None,
        epsilon=0.5,
    )
    wire = json.loads(json.dumps(status.to_dict()))
    assert wire["state"] == "paused" and wire["pending_change"] == {
        "kind": "set",
        "key": "gamma",
        "value": 0.9,
        "source": "ctl",
    }
    assert RunStatus.from_dict(wire) == status


def test_an_older_runs_status_reads_with_defaults_for_what_it_lacks():
    status = RunStatus.from_dict({"state": "done", "step": 10, "total_steps": 10, "padding": "ignored"})
    assert status.state is RunState.FINISHED and status.step == 10 and status.last_eval is None


def test_events_and_replies_keep_their_files_and_wire_shape():
    line = {"kind": "eval", "step": 3, "time": 1.5, "scheduled": True, "mean": 2.0, "std": 0.0, "returns": [2.0]}
    event = Event.from_dict(line)
    assert event.to_dict() == line and list(event.to_dict()) == list(line)  # same keys, same order
    assert event.problem() is None
    assert "mean = 'x'" in (Event.from_dict({**line, "mean": "x"}).problem() or "")
    answer = {"ok": False, "error": "a change is pending"}
    assert Reply.from_dict(answer).to_dict() == answer and not Reply.from_dict(answer).ok


def test_commands_are_dispatched_by_kind_and_a_bad_live_value_is_refused_when_asked():
    assert Command("pause").kind is CommandKind.PAUSE and Command.from_dict({"kind": "stop"}).to_dict() == {
        "kind": "stop",
        "source": "api",
    }
    control, store = Control(), MetricsStore()
    Trainer(tiny_config(), control=control, store=store)  # publishes the config changes are checked against
    refused = control.set("gamma", 1.5).result(timeout=1)
    assert not refused.ok and "gamma" in refused.error and control.pending_change is None
