"""Checkpoints: exact resume in a fresh process, forks, crash safety, refusing crafted pickles,
graceful stop on signals, one process per run directory, repeatable `cockpit eval`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny import tiny_config, write_tiny_preset

from cockpit.engine import checkpoints
from cockpit.engine import trainer as trainer_module
from cockpit.engine.control import Command
from cockpit.engine.trainer import Trainer


def cockpit(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cockpit", *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


def metrics(run_dir: Path) -> str:
    """metrics.jsonl as it is: its records hold no wall-clock figure (those are in timing.jsonl)."""
    return (run_dir / "metrics.jsonl").read_text()


def full_state(checkpoint: Path) -> dict:
    return torch.load(checkpoint / "state.pt", weights_only=True)


def assert_tensors_equal(a, b, where="") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_tensors_equal(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """One uninterrupted 600-step run, shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("finished")
    preset = write_tiny_preset(root / "tiny.toml")
    done = cockpit(preset, "--no-ui", "--run-dir", root / "run", cwd=root)
    assert done.returncode == 0, done.stderr
    return root / "run"


def test_resume_in_a_fresh_process_matches_the_uninterrupted_run(finished_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    final = checkpoints.find(run_dir)
    assert final.name == "step-000000600-stop" or final.name.startswith("step-000000600")
    expected_state, expected_metrics = full_state(final), metrics(run_dir)
    expected_summary = json.loads((run_dir / "summary.json").read_text())

    periodic = sorted(
        p for p in (run_dir / "checkpoints").iterdir() if p.name.startswith("step-") and p.name != final.name
    )
    middle = periodic[0]
    meta = json.loads((middle / "meta.json").read_text())
    assert meta["exact"] and 200 <= meta["step"] < 600
    done = cockpit("--resume", middle, "--no-ui", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"resuming from {middle}" in done.stdout

    resumed = checkpoints.find(run_dir)
    assert_tensors_equal(full_state(resumed), expected_state)
    assert metrics(run_dir) == expected_metrics
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("steps", "final_eval_return", "best_eval_return", "first_step_reaching_target"):
        assert summary[key] == expected_summary[key], key
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "resumed" and e["from_step"] == meta["step"] for e in events)
    # TensorBoard drops what the first process logged after the checkpoint (purge_step): no step twice.
    assert tensorboard_steps(run_dir, "rollout/ep_return") == tensorboard_steps(finished_run, "rollout/ep_return")


def tensorboard_steps(run_dir: Path, tag: str) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir / "tb"))
    accumulator.Reload()
    return [event.step for event in accumulator.Scalars(tag)]


def test_old_periodic_checkpoints_are_pruned_and_the_others_kept(tmp_path):
    config = tiny_config(run={"eval_freq": 100, "checkpoint_keep": 2})
    trainer = Trainer(config, tmp_path / "run")
    stop_at(trainer, 350, Command("checkpoint", source="test"))
    trainer.run()
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir() if p.is_dir())
    periodic = [n for n in names if n.startswith("step-") and n.count("-") == 1]
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    written = [Path(e["path"]).name for e in events if e["kind"] == "checkpoint" and e["checkpoint"] == "periodic"]
    assert len(written) > 2 and periodic == written[-2:], (names, written)
    assert sum(n.endswith("-demand") for n in names) == 1 and sum(n.endswith("-stop") for n in names) == 1, names
    assert sum(n.startswith("best-") for n in names) == 1, names


def test_resume_refuses_changes_other_than_total_steps(finished_run, tmp_path):
    done = cockpit("--resume", finished_run, "--set", "dqn.gamma=0.9", cwd=tmp_path)
    assert done.returncode == 2 and "cannot change on resume" in done.stderr


def test_fork_names_its_parent_and_applies_its_overrides(finished_run, tmp_path):
    parent = sorted((finished_run / "checkpoints").glob("step-*"))[0]
    step = json.loads((parent / "meta.json").read_text())["step"]
    child = tmp_path / "child"
    done = cockpit("--fork", parent, "--set", "dqn.learning_rate=2e-4", "--run-dir", child, "--no-ui", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    meta = json.loads((child / "metadata.json").read_text())
    assert meta["parent"]["checkpoint"] == str(parent.resolve()) and meta["parent"]["from_step"] == step
    assert json.loads((child / "summary.json").read_text())["steps"] == 600
    events = [json.loads(line) for line in (child / "events.jsonl").read_text().splitlines()]
    change = next(e for e in events if e["kind"] == "hparam")
    assert (change["key"], change["new"], change["source"], change["step"]) == ("learning_rate", 2e-4, "fork", step)
    state = full_state(checkpoints.find(child))
    assert state["optimizer"]["param_groups"][0]["lr"] == 2e-4

    refused = cockpit("--fork", parent, "--set", "dqn.hidden_size=64", cwd=tmp_path)
    assert (
        refused.returncode == 2 and "dqn.hidden_size" in refused.stderr and "cannot change on a fork" in refused.stderr
    )


KILL_DURING_SECOND_CHECKPOINT = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from tiny import tiny_config
from cockpit.engine import checkpoints
from cockpit.engine.trainer import Trainer

written = []
real_write = checkpoints._write_file
def dying_write(path, write):
    written.append(path)
    if len(written) == 5:  # periodic 1 (state, meta), best (state, meta), then mid-way into the next
        with open(path, "wb") as f:
            f.write(b"half a checkpoint")
        os.kill(os.getpid(), signal.SIGKILL)
    real_write(path, write)
checkpoints._write_file = dying_write
Trainer(tiny_config(), Path({run_dir!r})).run()
"""


def test_kill_9_during_a_checkpoint_write_leaves_the_previous_one_loadable(tmp_path):
    run_dir = tmp_path / "run"
    code = KILL_DURING_SECOND_CHECKPOINT.format(tests=str(Path(__file__).parent), run_dir=str(run_dir))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert list((run_dir / "checkpoints").glob(".tmp-*")), "the kill did not land mid-write"
    latest = checkpoints.find(run_dir)
    tensors, meta = checkpoints.load(latest)
    assert meta["kind"] in checkpoints.FULL_KINDS and "buffer" in tensors
    resumed = cockpit("--resume", run_dir, "--no-ui", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert not list((run_dir / "checkpoints").glob(".tmp-*")), "the half-written checkpoint was not cleaned up"


class Exploit:
    """Unpickled, it touches `marker`: the proof that a checkpoint's code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_pickle_is_refused_without_running_its_code(finished_run, tmp_path):
    marker = tmp_path / "pwned"
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    latest, best = checkpoints.find(run_dir), checkpoints.find(run_dir, prefer="best")
    for checkpoint in (latest, best):
        torch.save({"q": Exploit(marker)}, checkpoint / "state.pt")  # torch.save pickles the object as is
    for args in (
        ("eval", latest),
        ("eval", run_dir),
        ("--resume", run_dir, "--no-ui", "--total-steps", "700"),
        ("--resume", run_dir, "--total-steps", "700"),
    ):
        done = cockpit(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr
        if "--no-ui" in args or args[0] == "eval":
            assert len(done.stderr.strip().splitlines()) == 1
        # The UI front end shows its first frame before torch's import; the tensors are refused as the
        # trainer loads them, and the app exits with the same one line (after its frames, which in a
        # terminal are on the alternate screen; here, without one, they are on stderr too).
        assert "refused to load" in done.stderr.strip().splitlines()[-1]
    assert not marker.exists()


def start_training(tmp_path: Path, run_dir: Path, run: dict) -> subprocess.Popen:
    """A headless tiny run in its own process, returned once training is under way (its first
    scheduled evaluation printed)."""
    preset = write_tiny_preset(tmp_path / "tiny.toml", run=run)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cockpit", preset, "--no-ui", "--run-dir", run_dir],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if " eval " in line:
            break
    return proc


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signals_stop_gracefully_with_checkpoint_and_summary(tmp_path, signum, code):
    run_dir = tmp_path / "run"
    proc = start_training(tmp_path, run_dir, {"total_steps": 1_000_000, "log_interval": 100})
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["steps"] < 1_000_000
    checkpoint = checkpoints.find(run_dir)
    meta = json.loads((checkpoint / "meta.json").read_text())
    assert meta["kind"] == "stop" and meta["exact"] and meta["step"] == summary["steps"]


def test_a_second_process_on_a_running_run_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    proc = start_training(tmp_path, run_dir, {"total_steps": 1_000_000})
    try:
        done = cockpit("--resume", run_dir, "--no-ui", cwd=tmp_path)
        assert done.returncode == 2 and "in use by a running cockpit" in done.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)


def test_eval_of_the_same_checkpoint_twice_gives_the_same_numbers(finished_run, tmp_path):
    first = cockpit("eval", finished_run, "--episodes", "3", "--json", cwd=tmp_path)
    second = cockpit("eval", finished_run, "--episodes", "3", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["returns"] == b["returns"] and len(a["returns"]) == 3
    assert a["checkpoint"].split("/")[-1].startswith("best-step-")
    other_seed = json.loads(
        cockpit("eval", finished_run, "--episodes", "3", "--seed", "99", "--json", cwd=tmp_path).stdout
    )
    assert other_seed["seed"] == 99


def test_eval_records_a_gif(finished_run, tmp_path):
    gif = tmp_path / "episode.gif"
    done = cockpit("eval", finished_run, "--episodes", "1", "--gif", gif, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")


def test_replay_reruns_a_run_with_its_recorded_live_changes_bit_for_bit(tmp_path):
    original = tmp_path / "original"
    trainer = Trainer(tiny_config(), original)

    def change_midway(trainer, action, result):
        if trainer.step == 250:
            trainer.control.set("learning_rate", 2e-3, source="ctl")
        return result

    trainer.step_hook = change_midway
    assert trainer.run()["status"] == "finished"
    done = cockpit("--replay", original, "--no-ui", "--run-dir", tmp_path / "replayed", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_tensors_equal(full_state(checkpoints.find(tmp_path / "replayed")), full_state(checkpoints.find(original)))
    assert metrics(tmp_path / "replayed") == metrics(original)
    refused = cockpit("--replay", original, "--set", "dqn.gamma=0.9", cwd=tmp_path)
    assert refused.returncode == 2 and "cannot change a replay" in refused.stderr


def stop_at(trainer: Trainer, step: int, *commands: Command) -> None:
    """Submit commands through the control surface while the run is at `step` (as a signal handler would)."""

    def step_and_maybe_stop(trainer, action, result):
        if trainer.step == step:
            for command in commands:
                trainer.control.submit(command)
        return result

    trainer.step_hook = step_and_maybe_stop


@pytest.mark.parametrize("how", ["second signal", "episode too long"])
def test_a_stop_that_cannot_wait_for_the_episode_checkpoints_at_once_marked_inexact(tmp_path, monkeypatch, how):
    if how == "second signal":  # what the headless runner sends on a second SIGINT/SIGTERM
        commands = (Command("stop", source="SIGTERM"), Command("stop", value="now", source="SIGTERM"))
    else:  # a stop waits STOP_TIMEOUT_S for the episode to end, then takes the checkpoint anyway
        monkeypatch.setattr(trainer_module, "STOP_TIMEOUT_S", 0.0)
        commands = (Command("stop", source="SIGTERM"),)
    config = tiny_config(env={"max_episode_steps": 200}, run={"total_steps": 5000})
    trainer = Trainer(config, tmp_path / "run")
    stop_at(trainer, 250, *commands)
    summary = trainer.run()
    assert summary["status"] == "stopped" and summary["steps"] == 251
    meta = json.loads((checkpoints.find(tmp_path / "run") / "meta.json").read_text())
    assert meta["kind"] == "stop" and meta["step"] == 251 and meta["exact"] is False
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    assert [e["exact"] for e in events if e["kind"] == "checkpoint" and e["checkpoint"] == "stop"] == [False]

    resumed = Trainer(config.replace("run", total_steps=400), tmp_path / "run")
    assert resumed.resume_from(checkpoints.find(tmp_path / "run"))["exact"] is False
    assert resumed.run()["status"] == "finished" and resumed.step == 400  # a new episode starts where it stopped


def test_a_fork_keeps_the_parents_live_changes_and_applies_every_override(tmp_path):
    parent_dir = tmp_path / "parent"
    parent = Trainer(tiny_config(), parent_dir, changes=[{"step": 150, "key": "learning_rate", "value": 1e-4}])
    assert parent.run()["status"] == "finished"
    checkpoint = checkpoints.find(parent_dir)

    plain = tmp_path / "plain"  # no --set: nothing to change, the live-changed rate goes on
    done = cockpit("--fork", checkpoint, "--total-steps", "700", "--run-dir", plain, "--no-ui", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not [e for e in map(json.loads, (plain / "events.jsonl").read_text().splitlines()) if e["kind"] == "hparam"]
    assert full_state(checkpoints.find(plain))["optimizer"]["param_groups"][0]["lr"] == 1e-4

    other = tmp_path / "other"  # settings that cannot change live still hold from the fork's first step
    done = cockpit(
        "--fork",
        checkpoint,
        "--total-steps",
        "700",
        "--set",
        'dqn.loss="mse"',
        "--set",
        "dqn.double_dqn=true",
        "--run-dir",
        other,
        "--no-ui",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    dqn = json.loads((checkpoints.find(other) / "meta.json").read_text())["dqn"]
    assert (dqn["loss"], dqn["double_dqn"], dqn["learning_rate"]) == ("mse", True, 1e-4)


def test_bad_checkpoints_are_refused_before_anything_is_created(finished_run, tmp_path):
    best = checkpoints.find(finished_run, prefer="best")
    done = cockpit("--fork", best, "--run-dir", tmp_path / "fork", cwd=tmp_path)  # the UI front end: refused first
    assert done.returncode == 2 and "holds the policy only" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "fork").exists()

    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    latest = checkpoints.find(run_dir)
    meta = json.loads((latest / "meta.json").read_text())
    del meta["rng"]
    (latest / "meta.json").write_text(json.dumps(meta))
    done = cockpit("--resume", run_dir, "--no-ui", "--total-steps", "700", cwd=tmp_path)
    assert done.returncode == 2 and "incomplete checkpoint, missing meta.json: rng" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1

    # Tensors are checked as the trainer loads them, after the fork's directory is made: it goes again.
    broken = tmp_path / "broken"
    shutil.copytree(checkpoints.find(finished_run), broken)
    (broken / "state.pt").write_bytes(b"not a zip of tensors")
    done = cockpit("--fork", broken, "--no-ui", "--total-steps", "700", "--run-dir", tmp_path / "fork2", cwd=tmp_path)
    assert done.returncode == 2 and "state.pt: refused to load" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "fork2").exists()


def test_resume_and_fork_reach_the_ui_without_importing_torch(finished_run, tmp_path):
    """The first frame of `--resume`/`--fork` does not wait for torch's import: the CLI
    checks the checkpoint's metadata only; its tensors are loaded once, by the trainer."""
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    code = (
        "import sys; import cockpit.ui.launch as launch; "
        "launch.run_ui = lambda *args, **kwargs: print('torch' in sys.modules) or 0; "
        "from cockpit.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    for args in (("--resume", run_dir), ("--fork", checkpoints.find(run_dir), "--run-dir", tmp_path / "fork")):
        done = subprocess.run(
            [sys.executable, "-c", code, *map(str, args), "--total-steps", "700"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert done.returncode == 0 and done.stdout.strip() == "False", (args, done.stderr)


def test_resume_extends_the_run_keeps_the_new_total_and_refuses_a_finished_one(finished_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    done = cockpit("--resume", run_dir, "--no-ui", cwd=tmp_path)  # it already reached total_steps = 600
    assert done.returncode == 2 and "expected --total-steps above 600" in done.stderr

    trainer = Trainer(tiny_config(run={"total_steps": 700}), run_dir)
    trainer.resume_from(checkpoints.find(run_dir))
    seen = []
    trainer.step_hook = lambda t, action, result: (seen.append((run_dir / "summary.json").exists()), result)[1]
    assert trainer.run()["status"] == "finished" and trainer.step == 700
    assert seen and not any(seen), "a resumed run must not look ended (summary.json) while it trains"
    assert "total_steps = 700" in (run_dir / "config.toml").read_text()
    done = cockpit("--resume", run_dir, "--no-ui", cwd=tmp_path)  # the new total was kept: nothing left to do
    assert done.returncode == 2 and "expected --total-steps above 700" in done.stderr


def holds(new, old) -> bool:
    """`new` holds what `old` did (config tables may have gained keys since, with their defaults)."""
    if isinstance(old, dict):
        return isinstance(new, dict) and all(k in new and holds(new[k], v) for k, v in old.items())
    return repr(new) == repr(old)  # NaN (an unset target) equals itself


FORMAT_1 = Path(__file__).parent / "fixtures" / "format1_run"
"""A tiny run's directory cut at a checkpoint written before checkpoints carried a `format` (a replayed
live change still measuring its effect, alert state, a pinned change): what older runs hold."""


def test_a_checkpoint_from_before_format_versions_resumes_as_it_was_saved(tmp_path):
    from cockpit.engine.checkpoint_state import capture
    from cockpit.engine.config import build_config

    run_dir = tmp_path / "run"
    shutil.copytree(FORMAT_1, run_dir)
    checkpoint = run_dir / "checkpoints" / "step-000000408"
    saved_tensors, saved_meta = checkpoints.load(checkpoint)
    assert "format" not in saved_meta
    trainer = Trainer(build_config(saved_meta["config"], "fixture", name=saved_meta["run_name"]), run_dir)
    trainer.resume_from(checkpoint)
    tensors, meta = capture(trainer, "periodic")
    assert_tensors_equal({k: tensors[k] for k in saved_tensors}, saved_tensors)
    meta = json.loads(json.dumps(meta))
    for key, value in saved_meta.items():
        if key != "log_lines":  # counted by the run log, which opens when the run goes on
            assert holds(meta[key], value), key
    summary = trainer.run()
    assert summary["status"] == "finished" and summary["steps"] == 600
    kept = (FORMAT_1 / "metrics.jsonl").read_text().splitlines()[: saved_meta["log_lines"]["metrics"]]
    assert (run_dir / "metrics.jsonl").read_text().splitlines()[: len(kept)] == kept


def test_a_checkpoint_of_a_later_format_is_refused_in_one_line_naming_it(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(FORMAT_1, run_dir)
    checkpoint = run_dir / "checkpoints" / "step-000000408"
    meta = json.loads((checkpoint / "meta.json").read_text())
    (checkpoint / "meta.json").write_text(json.dumps({**meta, "format": 99}))
    done = cockpit("--resume", checkpoint, "--no-ui", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "format = 99" in done.stderr, done.stderr
