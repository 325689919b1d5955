"""Fault injection on run directories (issue 16, item 5, and item 8's resume cases): one tiny real run,
copied per case, damaged file by file (binary, truncated, wrong JSON types, out-of-range values,
missing, swapped), then every command that reads it. Each refuses with exit code 2 and one line
naming the file and what is wrong, writes nothing (`ls` lists the run as `damaged` and goes on;
`compare` names a damaged run and goes on with the others). A resume cuts its logs back to the
checkpoint, says so in one line, and never appends to a cut-off or invalid line.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from tiny import write_tiny_preset

from cockpit.cli import main

BINARY = bytes(range(256)) * 4
LATEST = "checkpoints/step-000000064-stop"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """One finished 64-step run: a periodic checkpoint, a stop checkpoint at 64 (latest), a best."""
    root = tmp_path_factory.mktemp("faults")
    preset = write_tiny_preset(
        root / "tiny.toml",
        dqn={"warmup_steps": 16, "buffer_size": 64, "hidden_size": 8},
        run={"total_steps": 64, "eval_freq": 32, "eval_episodes": 1, "log_interval": 32},
    )
    assert main([str(preset), "--no-ui", "--run-dir", str(root / "run")]) == 0
    assert (root / "run" / LATEST).is_dir() and periodic(root / "run").is_dir()
    return root / "run"


def periodic(run: Path) -> Path:
    """The run's periodic checkpoint (its step depends on where the episode after an evaluation ended)."""
    return next(p for p in (run / "checkpoints").glob("step-?????????") if p.is_dir())


def log_lines(checkpoint: Path) -> dict[str, int]:
    return json.loads((checkpoint / "meta.json").read_text())["log_lines"]


def line_count(path: Path) -> int:
    return len(path.read_bytes().splitlines())


@pytest.fixture
def run(pristine, tmp_path, capsys, monkeypatch) -> Path:
    """A fresh copy of the run, under a folder of its own (what `ls` lists), with the cwd there."""
    copy = tmp_path / "runs" / "run"
    shutil.copytree(pristine, copy)
    (copy / ".lock").write_text("pid 1 on the machine that ran it\n")  # a refusal must not rewrite it either
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    return copy


def tree(root: Path) -> dict[str, str]:
    """Every path under `root` with a hash of its content: what "nothing written" compares."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


def one_error_line(capsys, *fragments: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cockpit: error: "), captured.err
    assert "Traceback" not in captured.err + captured.out
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def set_key(key: str, value):
    return lambda data: data.__setitem__(key, value)


def edit_first(path: Path, kind: str, key: str, value) -> None:
    """Give the first record of `kind` a wrong `key`."""
    lines = path.read_text().splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines) if json.loads(line)["kind"] == kind)
    lines[number] = json.dumps({**json.loads(lines[number]), key: value}) + "\n"
    path.write_text("".join(lines))


def replace_line(path: Path, number: int, text: bytes) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = text
    path.write_bytes(b"\n".join(lines))


@pytest.fixture(autouse=True)
def no_app(monkeypatch):
    """`attach` on a run it accepts would open the cockpit: here it fails the test instead of waiting."""
    from cockpit.ui.app import CockpitApp

    def run(self, *args, **kwargs):
        raise AssertionError("attach opened the cockpit on a damaged run")

    monkeypatch.setattr(CockpitApp, "run", run)


# ------------------------------------------------------------------ damage × the commands that read it
DAMAGE = {
    "config binary": ("config.toml", lambda r: (r / "config.toml").write_bytes(BINARY), "not UTF-8"),
    "config truncated": (
        "config.toml",
        lambda r: (r / "config.toml").write_text("[dqn]\nlearning_rate = "),
        "unreadable run config",
    ),
    "config wrong type": (
        "config.toml",
        lambda r: (r / "config.toml").write_text(
            (r / "config.toml").read_text().replace("learning_rate = 0.001", 'learning_rate = "fast"')
        ),
        "dqn.learning_rate = 'fast'",
    ),
    "config out of range": (
        "config.toml",
        lambda r: (r / "config.toml").write_text(
            (r / "config.toml").read_text().replace("gamma = 0.99", "gamma = 7.0")
        ),
        "dqn.gamma = 7.0",
    ),
    "metadata list": ("metadata.json", lambda r: (r / "metadata.json").write_text("[]"), "a JSON list"),
    "metadata binary": (
        "metadata.json",
        lambda r: (r / "metadata.json").write_bytes(BINARY),
        "unreadable run metadata",
    ),
    "metadata preset number": (
        "metadata.json",
        lambda r: edit_json(r / "metadata.json", set_key("preset", 5)),
        "preset = 5",
    ),
    "summary steps many": (
        "summary.json",
        lambda r: edit_json(r / "summary.json", set_key("steps", "many")),
        "steps = 'many'",
    ),
    "summary binary": ("summary.json", lambda r: (r / "summary.json").write_bytes(BINARY), "unreadable run summary"),
    "summary list": ("summary.json", lambda r: (r / "summary.json").write_text("[1]"), "not a run summary"),
    "metrics garbage": (
        "metrics.jsonl",
        lambda r: replace_line(r / "metrics.jsonl", 2, b"garbage"),
        "metrics.jsonl:2: not a JSON line",
    ),
    "metrics binary": (
        "metrics.jsonl",
        lambda r: (r / "metrics.jsonl").write_bytes(BINARY + b"\n"),
        "metrics.jsonl:1: not a JSON line",
    ),
    "metrics wrong type": (
        "metrics.jsonl",
        lambda r: replace_line(r / "metrics.jsonl", 1, b'{"kind": "episode", "step": "x"}'),
        "metrics.jsonl:1: not a cockpit record",
    ),
    "metrics eval mean text": (
        "metrics.jsonl",
        lambda r: edit_first(r / "metrics.jsonl", "eval", "mean", "nine"),
        "eval record with mean",
    ),
    "events garbage": (
        "events.jsonl",
        lambda r: replace_line(r / "events.jsonl", 2, b"{not json"),
        "events.jsonl:2: not a JSON line",
    ),
    "events binary": (
        "events.jsonl",
        lambda r: (r / "events.jsonl").write_bytes(BINARY + b"\n"),
        "events.jsonl:1: not a JSON line",
    ),
    "events wrong type": (
        "events.jsonl",
        lambda r: replace_line(r / "events.jsonl", 2, b'{"kind": "eval", "step": 32, "mean": "x"}'),
        "events.jsonl:2: eval event that cannot be shown",
    ),
}
READERS = {
    "resume": (
        ["--resume", "{run}", "--no-ui", "--total-steps", "80"],
        {"config.toml", "metadata.json", "metrics.jsonl", "events.jsonl"},
    ),
    "replay": (
        ["--replay", "{run}", "--no-ui", "--run-dir", "replayed"],
        {"config.toml", "metadata.json", "events.jsonl"},
    ),
    "attach": (["attach", "{run}"], {"config.toml", "metadata.json", "summary.json", "metrics.jsonl", "events.jsonl"}),
    "compare": (["compare", "{run}"], {"config.toml", "summary.json", "metrics.jsonl"}),
    "ctl set": (["ctl", "{run}", "set", "dqn.learning_rate=1e-4"], {"config.toml", "metadata.json"}),
}
CASES = [
    (damage, reader)
    for damage, (file, _, _) in DAMAGE.items()
    for reader, (_, reads) in READERS.items()
    if file in reads
]


@pytest.mark.parametrize("damage, reader", CASES, ids=[f"{reader}-{damage}" for damage, reader in CASES])
def test_a_damaged_file_is_bad_input_for_every_command_that_reads_it(run, capsys, damage, reader):
    file, inflict, fragment = DAMAGE[damage]
    inflict(run)
    before = tree(run.parent)
    argv = [arg.format(run=run) for arg in READERS[reader][0]]
    assert main(argv) == 2
    one_error_line(capsys, file, fragment)
    assert tree(run.parent) == before
    assert not Path("replayed").exists()


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_ls_lists_a_damaged_run_as_damaged_and_goes_on(run, capsys, damage):
    file, inflict, fragment = DAMAGE[damage]
    other = run.parent / "other"
    shutil.copytree(run, other)
    inflict(run)
    assert main(["ls", str(run.parent), "--json"]) == 0
    rows = {Path(r["run_dir"]).name: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    if file == "events.jsonl":  # ls reads config, metadata, summary and the end of metrics.jsonl, not events
        assert rows["run"]["state"] == "finished"
    else:
        assert rows["run"]["state"] == "damaged" and file in rows["run"]["reason"] and fragment in rows["run"]["reason"]
    assert rows["other"]["state"] == "finished" and rows["other"]["step"] == 64
    assert main(["ls", str(run.parent)]) == 0  # the table too
    assert "damaged" in capsys.readouterr().out or file == "events.jsonl"


def test_compare_names_a_damaged_run_and_goes_on_with_the_others(run, capsys):
    other = run.parent / "other"
    shutil.copytree(run, other)
    edit_json(run / "summary.json", set_key("steps", "many"))
    assert main(["compare", str(run), str(other)]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"cockpit: left out a damaged run: {run / 'summary.json'}: steps = 'many': expected an integer >= 0"
    ]
    assert "#1" in captured.out and "Traceback" not in captured.err


def test_ctl_on_a_dead_run_with_a_damaged_summary_names_the_file(run, capsys):
    edit_json(run / "summary.json", set_key("steps", "many"))
    assert main(["ctl", str(run), "status"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "summary.json: steps = 'many'" in err and "Traceback" not in err


# ------------------------------------------------------------------ checkpoints: pointers and metadata
POINTERS = {
    "binary": (BINARY, "unreadable pointer (not UTF-8 text)"),
    "outside": (b"../../../etc\n", "names '../../../etc'"),
    "missing target": (b"step-000000999\n", "names step-000000999, which holds no meta.json"),
}


@pytest.mark.parametrize("command", ["resume", "fork", "eval"])
@pytest.mark.parametrize("pointer", list(POINTERS))
def test_a_damaged_pointer_is_bad_input(run, capsys, command, pointer):
    content, fragment = POINTERS[pointer]
    name = "best" if command == "eval" else "latest"
    (run / "checkpoints" / name).write_bytes(content)
    before = tree(run.parent)
    argv = {
        "resume": ["--resume", str(run), "--no-ui", "--total-steps", "80"],
        "fork": ["--fork", str(run), "--no-ui", "--run-dir", "forked"],
        "eval": ["eval", str(run)],
    }[command]
    assert main(argv) == 2
    one_error_line(capsys, f"checkpoints/{name}", fragment)
    assert tree(run.parent) == before and not Path("forked").exists()


META_FAULTS = [  # (key, value, what the line says)
    ("step", -5, "step = -5: expected an integer >= 0"),
    ("step", "many", "step = 'many'"),
    ("step", 1.5, "step = 1.5"),
    ("step", True, "step = True"),
    ("episode", -1, "episode = -1"),
    ("episode", 10**6, "at most step"),
    ("updates", "x", "updates = 'x'"),
    ("buffer_pos", -1, "buffer_pos = -1"),
    ("buffer_pos", 10**9, "buffer_pos = 1000000000"),
    ("buffer_size", 10**9, "buffer_size = 1000000000"),
    ("buffer_size", "64", "buffer_size = '64'"),
    ("dqn", [], "dqn = []"),
    ("dqn", {"learning_rate": -1}, "dqn.learning_rate = -1"),
    ("dqn", {"learning_rate": "fast"}, "dqn.learning_rate = 'fast'"),
    ("dqn", {"hidden_size": 16}, "dqn.hidden_size as in the checkpoint's config"),
    ("dqn", {"bogus": 1}, "unknown key dqn.bogus"),
    ("config", [], "config = []"),
    ("config", {"dqn": {"gamma": 3}}, "config: dqn.gamma = 3"),
    ("epsilon_segments", [], "epsilon_segments = []"),
    ("epsilon_segments", [{"start_step": 0}], "epsilon_segments"),
    ("rng", {}, "rng = {}: expected a numpy PCG64 generator state"),
    ("action_space_rng", "x", "action_space_rng = 'x'"),
    ("replay_sampler", {"pos": -1}, "replay_sampler"),
    ("python_random", [], "python_random = []"),
    ("numpy_global", {"name": "x"}, "numpy_global"),
    ("episode_returns", ["x"], "episode_returns = ['x']"),
    ("best_eval", "x", "best_eval = 'x'"),
    ("last_eval", 5, "last_eval = 5"),
    ("first_step_reaching_target", -3, "first_step_reaching_target = -3"),
    ("applied_changes", [{"step": 0, "key": "hidden_size", "value": 3}], "applied_changes"),
    ("applied_changes", [{"step": 0, "key": "learning_rate", "value": -1}], "applied_changes: dqn.learning_rate = -1"),
    ("change_effects", 5, "change_effects = 5"),
    ("train_time_s", "x", "train_time_s = 'x'"),
    ("eval_time_s", -1, "eval_time_s = -1"),
    ("log_lines", {"metrics": "x", "events": 1}, "log_lines"),
    ("exact", "yes", "exact = 'yes'"),
    ("run_name", 5, "run_name = 5"),
    ("kind", "bogus", "not a cockpit checkpoint"),
]


@pytest.mark.parametrize("command", ["resume", "fork"])
@pytest.mark.parametrize("key, value, fragment", META_FAULTS, ids=[f"{k}={v!r}"[:40] for k, v, _ in META_FAULTS])
def test_checkpoint_metadata_is_validated_in_full(run, capsys, command, key, value, fragment):
    edit_json(run / LATEST / "meta.json", set_key(key, value))
    before = tree(run.parent)
    argv = (
        ["--resume", str(run), "--no-ui", "--total-steps", "80"]
        if command == "resume"
        else ["--fork", str(run / LATEST), "--no-ui", "--run-dir", "forked", "--total-steps", "80"]
    )
    assert main(argv) == 2
    one_error_line(capsys, "meta.json", fragment)
    assert tree(run.parent) == before and not Path("forked").exists()


@pytest.mark.parametrize(
    "damage, fragment",
    [
        ("binary", "unreadable checkpoint metadata"),
        ("list", "not a cockpit checkpoint"),
        ("missing", "holds no meta.json"),
        ("swapped within the run", "swapped from another checkpoint?"),
    ],
)
def test_a_damaged_or_swapped_meta_json_is_bad_input(run, capsys, damage, fragment):
    meta = run / LATEST / "meta.json"
    if damage == "binary":
        meta.write_bytes(BINARY)
    elif damage == "list":
        meta.write_text("[]")
    elif damage == "missing":
        meta.unlink()
    else:
        shutil.copy(periodic(run) / "meta.json", meta)
    before = tree(run.parent)
    assert main(["--resume", str(run), "--no-ui", "--total-steps", "80"]) == 2
    one_error_line(capsys, fragment)
    if damage != "missing":  # a checkpoint named directly: eval reads its metadata too
        assert main(["eval", str(run / LATEST)]) == 2
        one_error_line(capsys, "meta.json")
    assert tree(run.parent) == before


def test_a_checkpoint_from_another_run_is_refused_naming_the_keys(run, capsys):
    edit_json(run / LATEST / "meta.json", lambda m: m["config"]["run"].__setitem__("seed", 99))
    before = tree(run.parent)
    assert main(["--resume", str(run), "--no-ui", "--total-steps", "80"]) == 2
    one_error_line(capsys, "config.toml: run.seed differ from the config in", "--fork")
    assert tree(run.parent) == before


# ------------------------------------------------------------------ resume: config edits and log cuts
def test_a_hand_edited_config_is_refused_on_resume_naming_the_keys(run, capsys):
    config = run / "config.toml"
    config.write_text(
        config.read_text()
        .replace("learning_rate = 0.001", "learning_rate = 0.002")
        .replace("eval_episodes = 1", "eval_episodes = 3")
        .replace("total_steps = 64", "total_steps = 99")
    )
    before = tree(run.parent)
    assert main(["--resume", str(run), "--no-ui", "--total-steps", "80"]) == 2
    line = one_error_line(capsys, "config.toml: dqn.learning_rate, run.eval_episodes differ", "--fork", "--set")
    assert "total_steps" not in line.partition("(")[0]
    assert tree(run.parent) == before


def test_a_log_cut_off_before_the_checkpoint_is_refused_naming_the_file(run, capsys):
    metrics, kept = run / "metrics.jsonl", log_lines(run / LATEST)["metrics"]
    assert line_count(metrics) == kept  # nothing was logged after the last checkpoint
    metrics.write_bytes(metrics.read_bytes()[:-40])  # into the last line the checkpoint counted
    before = tree(run.parent)
    assert main(["--resume", str(run), "--no-ui", "--total-steps", "80"]) == 2
    one_error_line(capsys, f"metrics.jsonl: {kept - 1} whole lines, step-000000064-stop was taken after line {kept}")
    assert tree(run.parent) == before


def test_an_orphaned_checkpoint_is_refused_rather_than_leaving_a_gap(run, capsys):
    """The events kept must end with the checkpoint's own: here the logs went on without it."""
    events = run / "events.jsonl"
    lines = events.read_text().splitlines(keepends=True)
    stop = next(i for i, line in enumerate(lines) if '"checkpoint": "stop"' in line)
    events.write_text("".join(lines[:stop] + lines[stop + 1 :]) + lines[-1])
    before = tree(run.parent)
    assert main(["--resume", str(run), "--no-ui", "--total-steps", "80"]) == 2
    one_error_line(
        capsys, "events.jsonl:", f"records {periodic(run).name} where step-000000064-stop was taken", "--fork"
    )
    assert tree(run.parent) == before


def test_resume_drops_a_cut_off_last_line_and_says_what_it_cut(run, capsys):
    with open(run / "metrics.jsonl", "ab") as f:
        f.write(b'{"kind": "episode", "st')  # a kill mid-write, after the checkpoint
    metrics, events = line_count(run / "metrics.jsonl"), line_count(run / "events.jsonl")
    kept = log_lines(run / LATEST)
    assert main(["--resume", str(run), "--no-ui", "--total-steps", "80"]) == 0
    out = capsys.readouterr().out
    assert (
        f"cockpit: resuming at step 64: cut back metrics.jsonl from {metrics} to {kept['metrics']} lines and "
        f"events.jsonl from {events} to {kept['events']} lines\n"
    ) in out
    for name in ("metrics.jsonl", "events.jsonl"):
        data = (run / name).read_bytes()
        assert data.endswith(b"\n") and all(json.loads(line) for line in data.splitlines())


def test_resume_from_an_older_checkpoint_says_what_it_cuts_and_skips(run, capsys):
    checkpoint = periodic(run)
    metrics, events, kept = line_count(run / "metrics.jsonl"), line_count(run / "events.jsonl"), log_lines(checkpoint)
    assert main(["--resume", str(checkpoint), "--no-ui"]) == 0
    out = capsys.readouterr().out
    note = next(
        line for line in out.splitlines() if line.startswith(f"cockpit: resuming at step {int(checkpoint.name[5:])}: ")
    )
    assert (
        f"cut back metrics.jsonl from {metrics} to {kept['metrics']} lines and events.jsonl from {events} to "
        f"{kept['events']} lines"
    ) in note
    assert note.endswith("; skips newer checkpoints: step-000000064-stop (--fork one to keep its course)")


def test_extending_a_finished_run_cuts_only_its_end_and_says_nothing(run, capsys):
    assert main(["--resume", str(run), "--no-ui", "--total-steps", "80"]) == 0
    assert "cockpit: resuming at step" not in capsys.readouterr().out
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in events].count("end") == 1 and events[-1]["kind"] == "end" and events[-1]["steps"] == 80


def test_a_replay_refuses_a_recorded_change_that_is_out_of_range(run, capsys):
    with open(run / "events.jsonl", "a") as f:
        f.write(
            json.dumps(
                {
                    "kind": "hparam",
                    "step": 40,
                    "time": 0.0,
                    "key": "gamma",
                    "old": 0.99,
                    "new": 5.0,
                    "source": "ctl",
                    "return_before": None,
                }
            )
            + "\n"
        )
    before = tree(run.parent)
    assert main(["--replay", str(run), "--no-ui", "--run-dir", "replayed"]) == 2
    one_error_line(capsys, "events.jsonl: a live change at step 40: dqn.gamma = 5.0")
    assert tree(run.parent) == before and not Path("replayed").exists()


def test_a_state_pt_swapped_for_a_policy_only_one_is_refused(run, capsys):
    shutil.copy(run / "checkpoints" / "best-step-000000064" / "state.pt", run / LATEST / "state.pt")
    before = tree(run.parent)
    assert main(["--resume", str(run), "--no-ui", "--total-steps", "80"]) == 2
    one_error_line(capsys, "incomplete checkpoint, missing state.pt: target")
    assert tree(run.parent) == before


def test_sweeps_name_a_damaged_run_and_go_on(run, capsys):
    from cockpit.sweeps.runs import read_runs

    other = run.parent / "other"
    shutil.copytree(run, other)
    replace_line(run / "metrics.jsonl", 2, b"garbage")
    records = read_runs([run, other])
    assert [r.path for r in records] == [other] and records[0].means
    assert capsys.readouterr().err.splitlines() == [
        f"cockpit: left out a damaged run: {run / 'metrics.jsonl'}:2: not a JSON line "
        "(expected one JSON object per line)"
    ]
