"""`cockpit tune --search --storage postgresql+psycopg://...`: two workers join one study and share
its trials, against a real PostgreSQL server (tests/postgres.py starts a throwaway one)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from postgres import postgres_server
from tiny import write_tiny_preset


@pytest.fixture(scope="module")
def postgres_url():
    with postgres_server() as url:
        yield url


def test_two_workers_share_one_study(postgres_url, tmp_path):
    optuna = pytest.importorskip("optuna")
    preset = write_tiny_preset(tmp_path / "tiny.toml", run={"total_steps": 200, "eval_freq": 100, "log_interval": 100})

    def worker(name: str) -> subprocess.Popen:
        command = [
            sys.executable,
            "-m",
            "cockpit",
            "tune",
            str(preset),
            "--search",
            "dqn.learning_rate=log:1e-4:1e-2",
            "--search",
            "dqn.batch_size=8,16",
            "--trials",
            "4",
            "--seeds",
            "1",
            "--workers",
            "1",
            "--storage",
            postgres_url,
            "--out",
            str(tmp_path / name),
        ]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    workers = [worker("a"), worker("b")]
    outputs = [w.communicate(timeout=240)[0] for w in workers]
    for w, output in zip(workers, outputs, strict=False):
        assert w.returncode == 0, output
        assert "best preset" in output
    name = json.loads((tmp_path / "a" / "summary.json").read_text())["study"]
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["study"] == name  # the same command, one study
    study = optuna.load_study(study_name=name, storage=postgres_url)
    trials = study.get_trials()
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    # --trials counts the study's trials, all workers together; two workers asking at the same
    # instant near the end can overshoot by one (as Optuna's MaxTrialsCallback can)
    assert 4 <= len(complete) <= 5 and len(complete) == len(trials)
    assert len({t.user_attrs["worker"] for t in complete}) == 2  # both workers took trials
    assert all(Path(t.user_attrs["directory"]).is_dir() for t in complete)
    for name_ in ("a", "b"):
        assert (tmp_path / name_ / "best.toml").exists()
