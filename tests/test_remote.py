"""The control socket against a real headless run in a subprocess: each command's effect and reply,
two viewers at once, bad messages, a viewer that stops reading, the socket's permissions, a stale
socket after SIGKILL; `cockpit ctl` and `cockpit ls` as scripts see them."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
from pathlib import Path

import pytest
from live_run import TRAINING, LiveRun, RawClient, cockpit, wait_for_file
from tiny import tiny_config

from cockpit.engine.contract import RunStatus
from cockpit.engine.control import Command, Control
from cockpit.engine.metrics import MetricsStore
from cockpit.remote import server as server_module
from cockpit.remote import viewer as viewer_module
from cockpit.remote.client import Connection, RemoteControl, RemoteStore
from cockpit.remote.protocol import MAX_REQUEST
from cockpit.remote.server import ControlServer

RECORDED = Path(__file__).parent / "fixtures" / "recorded_run"
ANSWER_S = 30


@pytest.fixture(scope="module")
def watched_run(tmp_path_factory):
    """One run for the module's tests that only watch it, beside a finished one for `ls`."""
    root = tmp_path_factory.mktemp("watched")
    shutil.copytree(RECORDED, root / "old")
    with LiveRun(root) as run:
        yield run


@pytest.fixture
def watched(watched_run):
    """The shared run, read-only: a test that steered it (any event with a source) fails here."""
    before = len(watched_run.events())
    yield watched_run
    steered = [e for e in watched_run.events()[before:] if "source" in e]
    assert not steered, f"a test sharing the run changed it: {steered}"


@pytest.fixture
def live(tmp_path):
    """A run of the test's own, to steer."""
    with LiveRun(tmp_path) as run:
        yield run


@pytest.fixture
def client(live):
    connection = Connection(live.socket)
    yield RemoteControl(connection, source="ctl")
    connection.close()


def test_the_socket_is_private_short_and_pointed_to(watched):
    pointer = json.loads((watched.run_dir / "control.json").read_text())
    assert pointer == {"socket": str(watched.socket), "pid": watched.proc.pid, "protocol": 1}
    assert len(str(watched.socket).encode()) < 108
    info, folder = os.stat(watched.socket), os.stat(watched.socket.parent)
    assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    assert stat.S_IMODE(folder.st_mode) == 0o700 and folder.st_uid == info.st_uid == os.getuid()
    if os.getuid() != 0:
        return
    child = os.fork()  # another user (nobody) tries to connect
    if child == 0:
        try:
            os.setgid(65534)
            os.setuid(65534)
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect(str(watched.socket))
            os._exit(0)
        except PermissionError:
            os._exit(13)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 13


def test_each_command_acts_on_the_run_and_answers(live, client):
    def ask(command: Command) -> dict:
        return client.submit(command).result(ANSWER_S).to_dict()

    assert client.request("status").result(ANSWER_S).get("status")["state"] in TRAINING
    paused = ask(Command("pause"))
    assert paused["ok"] and paused["state"] == "paused"
    status = client.request("status").result(ANSWER_S).get("status")
    assert status["state"] == "paused" and status["step"] == paused["step"]

    changed = ask(Command("set", "learning_rate", 5e-4))
    assert changed == {
        "ok": True,
        "step": paused["step"],
        "key": "learning_rate",
        "old": 1e-3,
        "new": 5e-4,
        "number": changed["number"],
        "rollback": f"cockpit --fork {live.run_dir} --before-change {changed['number']}",
    }
    refused = ask(Command("set", "learning_rate", -1))
    assert not refused["ok"] and "expected a number in (0, 10]" in refused["error"]
    evaluation = ask(Command("evaluate"))
    assert evaluation["ok"] and not evaluation["scheduled"] and len(evaluation["returns"]) == 2

    checkpoint = client.submit(Command("checkpoint"))  # taken at the end of the episode: after resuming
    assert ask(Command("resume"))["state"] == "running"
    written = checkpoint.result(ANSWER_S).to_dict()
    assert written["ok"] and written["exact"] and Path(live.root, written["path"]).is_dir()

    mine = [(e["kind"], e.get("key")) for e in live.events() if e.get("source") == "ctl"]
    assert mine == [("pause", None), ("hparam", "learning_rate"), ("checkpoint_requested", None), ("resume", None)]


def test_two_viewers_see_each_others_changes(live):
    viewers = []
    for name in ("viewer-a", "viewer-b"):
        connection = Connection(live.socket)
        store = RemoteStore()
        connection.subscribe(store.apply).result(ANSWER_S)
        viewers.append((RemoteControl(connection, store, source=name), store))
    (a, store_a), (b, store_b) = viewers
    try:
        assert a.pause().result(ANSWER_S).ok
        for store in (store_a, store_b):
            assert store.wait_for(lambda s: s.state == "paused", ANSWER_S)
        assert b.resume().result(ANSWER_S).ok
        for store in (store_a, store_b):
            assert store.wait_for(lambda s: s.state == "running", ANSWER_S)
            sources = [(e.kind, e.get("source")) for e in store.events if e.kind in ("pause", "resume")]
            assert sources[-2:] == [("pause", "viewer-a"), ("resume", "viewer-b")]
            assert store.series["rollout/epsilon"].steps  # the charts fill too
    finally:
        a.close()
        b.close()


def test_bad_messages_are_answered_with_an_error_and_change_nothing(watched):
    raw = RawClient(watched.socket)
    before = len(watched.events())
    bad = [
        (b"not json\n", None, "not a JSON line"),
        (b"[1, 2]\n", None, "expected a JSON object"),
        (b'{"v": 2, "id": 1, "cmd": {"kind": "pause"}}\n', 1, "protocol version 2"),
        (b'{"v": 1, "id": 2, "cmd": {"kind": "explode"}}\n', 2, "expected an object with kind one of"),
        (b'{"v": 1, "id": 3, "cmd": {"kind": "policy"}}\n', 3, "weights do not travel"),
        (b'{"v": 1, "id": 4, "cmd": {"kind": "pause"}, "status": true}\n', 4, "exactly one of"),
        (b'{"v": 1, "id": 5, "cmd": {"kind": "stop", "source": ["x"]}}\n', 5, "expected a short name"),
        (
            b"x" * (MAX_REQUEST + 10) + b'{"v": 1, "id": 6, "cmd": {"kind": "stop"}}\n',
            None,
            f"over {MAX_REQUEST} bytes",
        ),
    ]
    for line, rid, error in bad:
        raw.send(line)
        answer = raw.answer(rid)
        assert error in answer["error"], (line[:60], answer)
    raw.send(b'{"v": 1, "id": 7, "cmd": {"kind": "pau')  # and goes away mid-message
    raw.close()

    check = RawClient(watched.socket)
    check.send({"id": 1, "status": True})
    assert check.answer(1)["reply"]["status"]["state"] in TRAINING
    check.close()
    assert not [e for e in watched.events()[before:] if e["kind"] not in ("eval", "checkpoint", "alert")]


def test_a_viewer_that_stops_reading_never_holds_up_the_run(watched):
    stalled = RawClient(watched.socket)
    stalled.send({"id": 1, "subscribe": {"since_step": -1}})
    try:
        for rid in range(2, 1000):  # it asks and asks, and reads none of the answers
            stalled.send({"id": rid, "status": True})
    except BrokenPipeError:
        pass  # cut off already
    check = Connection(watched.socket)
    try:
        store = RemoteStore()
        check.subscribe(store.apply).result(ANSWER_S)
        first = store.status.step
        assert store.wait_for(lambda s: s.step >= first + 1000, ANSWER_S)  # the run goes on
        assert check.request("status")[1].result(ANSWER_S)["ok"]  # and the server answers the others
    finally:
        check.close()
    with pytest.raises((EOFError, ConnectionResetError)):  # its answers piled up past the bound: it was cut off
        while True:
            stalled.receive()
    stalled.close()


def test_a_stalled_viewer_loses_stale_updates_and_is_told_how_many(tmp_path, monkeypatch):
    """In process, with a tiny queue and fast polling: a fast producer, a stalled viewer, a healthy one."""
    monkeypatch.setattr(viewer_module, "MAX_QUEUED", 4)
    monkeypatch.setattr(server_module, "SEND_BUFFER", 1024)
    monkeypatch.setattr(server_module, "POLL_S", 0.01)
    store = MetricsStore()
    server = ControlServer(tmp_path, tiny_config(), Control(), store)
    server.start()
    try:
        stalled = RawClient(server.path)
        stalled.send({"id": 1, "subscribe": True})
        healthy, seen = Connection(server.path), RemoteStore()
        healthy.subscribe(seen.apply).result(ANSWER_S)
        for step in range(1, 61):
            store.publish(RunStatus(step=step, error="x" * 4000), {"train/loss": (step, 0.5)})  # a large update
            assert seen.wait_for(lambda s, step=step: s.step == step, ANSWER_S)
        assert seen.series["train/loss"].steps == list(range(1, 61))  # the healthy viewer misses nothing
        dropped, updates, last = 0, 0, None
        while last != 60:
            message = stalled.receive()
            dropped += message.get("dropped", 0)
            if "update" in message:
                updates, last = updates + 1, message["update"]["status"].get("step")
        assert dropped > 0 and updates < 60  # the latest state still arrives
        healthy.close()
        stalled.close()
    finally:
        server.close()
    assert not server.path.exists() and not (tmp_path / "control.json").exists()


def test_ctl_prints_the_result_and_exits_with_what_happened(live):
    shutil.copytree(RECORDED, live.root / "old")

    def ctl(*args) -> tuple[int, str, str]:
        done = cockpit("ctl", *args, cwd=live.root)
        return done.returncode, done.stdout, done.stderr

    code, out, _ = ctl(live.run_dir, "eval")
    assert code == 0 and out.startswith("eval at step ") and "over 2 episodes\nreturns " in out
    code, out, _ = ctl(live.run_dir, "pause", "--json")
    assert code == 0 and json.loads(out)["state"] == "paused"
    code, out, _ = ctl(live.run_dir, "resume")
    assert code == 0 and out.startswith("running at step ")
    code, out, err = ctl(live.run_dir, "set", "dqn.learning_rate=-1")
    assert code == 2 and out == "" and "live change: dqn.learning_rate = -1.0: expected a number in (0, 10]" in err
    code, out, _ = ctl(live.run_dir, "set", "dqn.learning_rate=1e-3")
    number = re.match(r"change #(\d+): learning_rate [0-9.e-]+ → 0.001 at step ", out)
    assert code == 0 and number, out
    assert out.splitlines()[-1] == f"roll back: cockpit --fork {live.run_dir} --before-change {number[1]}"
    code, out, err = ctl(live.run_dir, "set", "dqn.learning_rate=abc")
    assert code == 2 and out == "" and "dqn.learning_rate" in err and len(err.splitlines()) == 1
    code, _, err = ctl(live.run_dir, "set", "dqn.buffer_size=10")
    assert code == 2 and "not live-adjustable" in err and len(err.splitlines()) == 1
    code, out, _ = ctl(live.run_dir, "mute", "grad_spike")
    assert code == 0 and out.startswith("alert grad_spike muted at step ")
    code, out, _ = ctl(live.run_dir, "unmute", "grad_spike")
    assert code == 0 and "shown again" in out
    code, _, err = ctl(live.run_dir, "mute", "grad_spikes")
    assert code == 2 and "expected an alert kind, one of non_finite" in err and len(err.splitlines()) == 1
    code, _, err = ctl(live.root / "nowhere", "pause")
    assert code == 2 and "not a run directory" in err
    code, _, err = ctl(live.root / "old", "pause")
    assert code == 3 and "the run has ended: finished at step 6,000" in err


def test_ls_lists_the_runs_with_state_step_last_eval_and_attach(watched):
    done = cockpit("ls", watched.root, cwd=watched.root)
    assert done.returncode == 0, done.stderr
    header, old, run = done.stdout.splitlines()
    assert header.split() == ["RUN", "STATE", "STEP", "LAST", "EVAL", "ATTACH"]
    assert old.split()[1:] == ["finished", "6,000/6,000", "156.9", "±", "16.5", "@", "6,000", "history"]
    assert run.split()[1] in TRAINING and run.split()[2].endswith("/1,000,000") and run.endswith("live")


def test_a_killed_run_leaves_a_stale_socket_that_is_detected_and_replaced(tmp_path):
    with LiveRun(tmp_path) as run:  # killed once it has a checkpoint to resume from
        # On disk once `latest` names it (its event is written before the checkpoint itself).
        wait_for_file(run.run_dir / "checkpoints" / "latest", lambda text: text.startswith("step-"), run.proc)
        run.proc.send_signal(signal.SIGKILL)
        run.proc.wait()
    assert run.socket.exists() and (run.run_dir / "control.json").exists()
    done = cockpit("ctl", run.run_dir, "status", cwd=tmp_path)
    assert done.returncode == 3 and "the run is dead" in done.stderr and "stale" in done.stderr
    listed = json.loads(cockpit("ls", tmp_path, "--json", cwd=tmp_path).stdout)
    assert (listed["state"], listed["attach"]) == ("dead", "history")

    with LiveRun(tmp_path, resume=True) as resumed:  # the same directory, the same socket path
        assert resumed.socket == run.socket
        done = cockpit("ctl", run.run_dir, "stop", cwd=tmp_path)
        assert done.returncode == 0 and done.stdout.startswith("stopping at step"), done.stderr
        assert resumed.proc.wait(ANSWER_S) == 0
    assert not run.socket.exists() and not (run.run_dir / "control.json").exists()


def test_nan_pauses_instead_of_stopping_while_a_viewer_watches(tmp_path):
    """In process: the headless front end's server tells the trainer when someone is watching."""
    import io
    import threading

    from cockpit.engine.trainer import Trainer
    from cockpit.headless import listen

    config = tiny_config()
    control, store = Control(), MetricsStore()
    trainer = Trainer(config, control=control, store=store)
    heard = threading.Event()
    server = listen(tmp_path, config, control, store, io.StringIO())
    original = server.on_watchers
    server.on_watchers = lambda count: (original(count), heard.set())
    try:
        assert trainer.on_non_finite == "stop"
        viewer = Connection(server.path)
        viewer.subscribe(RemoteStore().apply).result(ANSWER_S)
        assert heard.wait(ANSWER_S) and trainer.on_non_finite == "pause"
        heard.clear()
        viewer.close()
        assert heard.wait(ANSWER_S) and trainer.on_non_finite == "stop"
    finally:
        server.close()
