"""`cockpit seeds`, `tune` and `compare` end to end through the CLI, on a tiny preset (400 steps,
an evaluation every 100): real subprocess runs, real files, a few seconds each."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tiny import write_tiny_preset

from cockpit.cli import main
from cockpit.engine.config import load_preset

pytest.importorskip("scipy")
PNG = b"\x89PNG\r\n\x1a\n"


def run_cli(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def preset(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("preset")
    return write_tiny_preset(directory / "tiny.toml", run={"total_steps": 400, "eval_freq": 100, "log_interval": 100})


@pytest.fixture(scope="module")
def seeds_sweep(preset, tmp_path_factory) -> tuple[Path, int, str]:
    out = tmp_path_factory.mktemp("seeds") / "sweep"
    code, text = run_cli(["seeds", str(preset), "-n", "2", "--workers", "2", "--out", str(out)])
    return out, code, text


def test_seeds_two_tiny_runs_end_to_end(seeds_sweep):
    out, code, text = seeds_sweep
    assert code == 0, text
    assert "anecdotal" in text  # 2 < 3 seeds, said plainly
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds_run"] == 2 and summary["anecdotal"] is True
    assert [r["seed"] for r in summary["runs"]] == [7, 8]
    for run in summary["runs"]:
        run_dir = Path(run["run_dir"])
        assert run_dir.parent == out and run["status"] == "finished"
        assert json.loads((run_dir / "summary.json").read_text())["steps"] == 400  # an ordinary run directory
    assert summary["curves"]["step"] == [100, 200, 300, 400]
    finals = [r["final_eval"] for r in summary["runs"]]
    assert summary["aggregate"]["final_eval"]["mean"] == pytest.approx(sum(finals) / 2)
    assert summary["aggregate"]["final_eval"]["iqm"] == pytest.approx(sum(finals) / 2)  # < 4 runs: IQM is the mean
    assert summary["curves"]["mean"][-1] == pytest.approx(sum(finals) / 2)
    rows = list(csv.reader((out / "summary.csv").open()))
    assert [r[0] for r in rows] == ["row", "seed 7", "seed 8", "mean", "stderr", "iqm", "iqm_ci_low", "iqm_ci_high"]
    assert (out / "curves.png").read_bytes().startswith(PNG)
    assert "IQM 95% CI" in text and "env step" in text  # the table and the terminal plot


def test_compare_overlays_runs_and_lists_differing_keys(seeds_sweep, tmp_path):
    out, _, _ = seeds_sweep
    other = tmp_path / "other"
    shutil.copytree(out / "s7", other)  # the same run, as if trained with another learning rate
    config = other / "config.toml"
    config.write_text(config.read_text().replace("learning_rate = 0.001", "learning_rate = 0.0005"))
    png = tmp_path / "compare.png"
    code, text = run_cli(["compare", str(out), str(other), "--png", str(png)])
    assert code == 0, text
    assert "hyperparameters that differ" in text
    assert any(line.split() == ["dqn.learning_rate", "0.001", "0.0005"] for line in text.splitlines()), text
    assert png.read_bytes().startswith(PNG)
    code, text = run_cli(["compare", str(out / "s7"), str(out / "s8")])
    assert code == 0 and "identical (seeds aside)" in text


def test_one_factor_sweep_ranks_values_on_shared_seeds(preset, tmp_path):
    out = tmp_path / "tune"
    code, text = run_cli(
        [
            "tune",
            str(preset),
            "--param",
            "dqn.learning_rate=1e-3,1e-2",
            "--seeds",
            "2",
            "--workers",
            "2",
            "--total-steps",
            "200",
            "--out",
            str(out),
        ]
    )
    assert code == 0, text
    summary = json.loads((out / "summary.json").read_text())
    assert {r["label"] for r in summary["ranking"]} == {"0.001", "0.01"}
    for setting in summary["settings"].values():
        assert [r["seed"] for r in setting["runs"]] == [7, 8]  # every value on the same seeds
    second = summary["ranking"][1]["vs_best"]
    assert second["pairs"] == 2
    assert "with 2 seeds the intervals are too coarse to separate settings" in text  # whatever the intervals say
    best = load_preset(out / "best.toml")
    assert best.dqn.learning_rate == float(summary["ranking"][0]["label"]) and best.run.total_steps == 200


@pytest.mark.parametrize(
    "args, message",
    [
        (["--param", "dqn.learning_rate=1e-3,1e-2", "--param", "dqn.gamma=0.9,0.99"], "exactly one hyperparameter"),
        (["--param", "dqn.learnig_rate=1e-3,1e-2"], "unknown key dqn.learnig_rate (did you mean dqn.learning_rate?)"),
        (["--param", "dqn.learning_rate=1e-3,,1e-2"], "malformed value list"),
        (["--param", "dqn.learning_rate=1e-3"], "at least two values"),
        (["--param", "dqn.batch_size=16,abc"], "expected an integer"),
        (["--search", "dqn.learning_rate=log:0:1"], "expected a number in (0, 10]"),
        (["--search", "dqn.learning_rate=log:1e-3"], "expected LOW:HIGH"),
        (["--search", "dqn.loss=a:b"], "numeric bounds"),
        (["--param", "dqn.gamma=0.9,0.99", "--search", "dqn.learning_rate=1e-4:1e-3"], "not both"),
        (["--seeds", "0", "--param", "dqn.gamma=0.9,0.99"], "--seeds 0"),
        (["--param", "env.id=CartPole-v1,Foo-v9"], "env.id = 'Foo-v9': cannot make this environment"),
        (["--param", "run.device=cpu,cuda:7"], "run.device = 'cuda:7': not available here"),
    ],
)
def test_tune_refuses_bad_input_in_one_line(preset, tmp_path, capsys, args, message):
    out = tmp_path / "never"
    assert main(["tune", str(preset), *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()  # refused before anything was created or launched


def test_seeds_refuses_an_existing_sweep_directory(preset, seeds_sweep, capsys):
    out, _, _ = seeds_sweep
    assert main(["seeds", str(preset), "-n", "2", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_search_resumes_an_interrupted_study(preset, tmp_path):
    """Kill a search (and nothing else: its runs stop with it) while its second trial runs; the same
    command then continues the study: the finished trial stays, the orphaned one is failed once its
    heartbeat is stale and retried with the same parameters, and the study reaches its trial count."""
    optuna = pytest.importorskip("optuna")
    out = tmp_path / "search"
    command = [
        sys.executable,
        "-m",
        "cockpit",
        "tune",
        str(preset),
        "--search",
        "dqn.learning_rate=log:1e-4:1e-2",
        "--trials",
        "3",
        "--seeds",
        "1",
        "--workers",
        "1",
        "--heartbeat",
        "2",
        "--sampler-seed",
        "3",
        "--set",
        "run.total_steps=200",
        "--out",
        str(out),
    ]
    first = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    seen = []
    for line in first.stdout:
        seen.append(line)
        if line.startswith("trial 1 started"):
            os.killpg(first.pid, signal.SIGKILL)
            break
    first.wait(timeout=60)
    assert any(line.startswith("trial 0: score") for line in seen), "".join(seen)
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "(1 trials so far)" in resumed.stdout or "(2 trials so far)" in resumed.stdout
    assert "(retry of trial 1)" in resumed.stdout
    study = optuna.load_study(
        study_name=json.loads((out / "summary.json").read_text())["study"], storage=f"sqlite:///{out / 'study.db'}"
    )
    states = {t.number: t.state.name for t in study.get_trials()}
    assert states[0] == "COMPLETE" and states[1] == "FAIL"
    retry = next(t for t in study.get_trials() if t.system_attrs.get("failed_trial") == 1)  # set by the retry
    assert retry.state.name == "COMPLETE" and retry.params == study.trials[1].params
    assert sum(s == "COMPLETE" for s in states.values()) == 3
    assert load_preset(out / "best.toml").run.total_steps == 200


def test_sweep_commands_import_no_heavy_package_before_use():
    """scipy, matplotlib, optuna, sqlalchemy (and torch) load inside the functions that use them:
    `cockpit seeds --help` and a bad argument answer without them."""
    code = (
        "import sys, cockpit.cli, cockpit.commands.seeds, cockpit.commands.tune, cockpit.commands.compare, "
        "cockpit.sweeps.search, cockpit.sweeps.search_report; "
        "print(sorted(m for m in ('scipy', 'matplotlib', 'optuna', 'sqlalchemy', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_search_reports_the_seed_mean_and_prunes_on_it(tmp_path):
    """A trial's intermediate value at a step is the mean over its seeds once all have reached it;
    a trial behind the median of earlier ones there is pruned and its seed runs are stopped."""
    optuna = pytest.importorskip("optuna")
    from tiny import tiny_config

    from cockpit.sweeps.launcher import Job
    from cockpit.sweeps.search import ActiveTrial, Search
    from cockpit.sweeps.search_settings import SearchSettings

    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    )
    earlier = study.ask()
    earlier.report(100.0, 100)
    study.tell(earlier, 100.0)
    settings = SearchSettings("tiny.toml", workers=2, heartbeat=60, trials=2)
    search = Search(study, None, settings, tiny_config(), [], [1, 2], tmp_path)
    active = ActiveTrial(study.ask())
    active.jobs = [
        Job(f"s{seed}", tmp_path / f"s{seed}", [], 400, tmp_path / f"s{seed}.log", tag=active) for seed in (1, 2)
    ]
    for job in active.jobs:
        search.launcher.submit(job)
    search.active.append(active)
    active.jobs[0].evals.append({"step": 100, "mean": 10.0})
    search.report(active)
    assert study.get_trials()[active.trial.number].intermediate_values == {}  # seed 2 has not reached step 100
    active.jobs[1].evals.append({"step": 100, "mean": 20.0})
    search.report(active)
    trial = study.get_trials()[active.trial.number]
    assert trial.intermediate_values == {100: 15.0}
    assert trial.state.name == "PRUNED"
    assert all(job.cancelled and job.done for job in active.jobs) and search.active == []
