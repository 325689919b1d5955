"""A baseline to beat: another run drawn faint on the return chart, the live run's standing against it
in the status strip; chosen with --baseline, `b`, or a fork's parent by default; a damaged one refused
in one line (exit 2) or a toast."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tiny import write_tiny_preset
from waiting import until

from cockpit.engine.contract import Evaluation
from cockpit.engine.control import Control
from cockpit.engine.history import load_history
from cockpit.ui.app import CockpitApp
from cockpit.ui.baseline import Standing, ended_runs, load_baseline, standing
from cockpit.ui.launch import create_attach_app
from cockpit.ui.screens.baseline_picker import BaselinePicker
from cockpit.ui.widgets.metric_chart import MetricChart

RECORDED = Path(__file__).parent / "fixtures" / "recorded_run"


def scaled_run(path: Path, factor: float = 0.7) -> Path:
    """The recorded run with every return and evaluation mean scaled: another run to compare with."""
    shutil.copytree(RECORDED, path)
    lines = []
    for line in (path / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        for key in ("return", "mean"):
            if isinstance(record.get(key), (int, float)):
                record[key] = round(record[key] * factor, 3)
        lines.append(json.dumps(record))
    (path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return path


def damaged_run(path: Path) -> Path:
    shutil.copytree(RECORDED, path)
    with open(path / "metrics.jsonl", "a") as f:
        f.write("{not json\n")
    return path


def recorded_app(baseline_dir: Path | None = None, run_dir: Path | None = None) -> CockpitApp:
    baseline = load_baseline(baseline_dir) if baseline_dir else None
    return CockpitApp(
        "cockpit · CartPole-v1 · cartpole · seed 1",
        Control(),
        load_history(RECORDED),
        run_dir=run_dir,
        baseline=baseline,
    )


def test_the_standing_is_the_latest_scheduled_evaluation_against_the_baselines_at_that_step(tmp_path):
    baseline = load_baseline(scaled_run(tmp_path / "base"))
    first, second = baseline.eval_steps[:2]
    middle = (first + second) / 2
    assert baseline.mean_at(middle) == pytest.approx((baseline.eval_means[0] + baseline.eval_means[1]) / 2)
    assert baseline.mean_at(baseline.eval_steps[-1] + 1) is None  # past its evaluations: not interpolated
    live = [Evaluation(int(middle), True, 500.0, 1.0, (), ()), Evaluation(int(middle) + 5, False, 0.0, 0.0, (), ())]
    found = standing(baseline, live)  # the evaluation asked for with `e` is not the schedule's
    assert found == Standing(int(middle), 500.0, baseline.mean_at(int(middle)))
    assert found.margin > 0 and standing(None, live) is None and standing(baseline, live[1:]) is None
    later = Evaluation(int(baseline.eval_steps[-1]) + 1_000, True, 1.0, 0.0, (), ())
    assert standing(baseline, [later]) == Standing(later.step, 1.0, baseline.eval_means[-1], past_its_end=True)


async def test_the_baseline_is_drawn_on_the_return_chart_and_the_strip_says_ahead_or_behind(tmp_path):
    app = recorded_app(scaled_run(tmp_path / "base"))
    async with app.run_test(size=(160, 48)) as pilot:
        chart = app.query_one("#chart-return", MetricChart)
        await until(pilot, lambda: chart.x_range is not None)
        assert "baseline base" in str(chart.border_subtitle)
        strip = str(app.status_strip.render())
        assert "ahead of baseline" in strip  # the recorded run against itself scaled by 0.7
        for other in app.query(MetricChart):
            assert "baseline" not in str(other.border_subtitle) or other is chart


async def test_b_picks_an_ended_run_from_the_runs_folder_and_a_damaged_one_is_a_toast(tmp_path):
    runs = tmp_path / "runs"
    scaled_run(runs / "other")
    damaged_run(runs / "broken")
    live = runs / "live"
    live.mkdir()
    app = recorded_app(run_dir=live)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("b")
        picker = app.screen
        toasts: list[str] = []
        notify = picker.notify
        picker.notify = lambda message, **kwargs: (toasts.append(str(message)), notify(message, **kwargs))[1]
        assert isinstance(picker, BaselinePicker)
        assert sorted(row.run_dir.name for row in picker.rows) == ["broken", "other"]
        table = picker.query_one("#runs")
        table.move_cursor(row=[row.run_dir.name for row in picker.rows].index("broken"))
        await pilot.press("enter")
        await until(pilot, lambda: any("metrics.jsonl" in toast for toast in toasts))
        assert app.screen is picker and app.baseline is None
        table.move_cursor(row=[row.run_dir.name for row in picker.rows].index("other"))
        await pilot.press("enter")
        await until(pilot, lambda: app.baseline is not None)
        assert app.baseline.label == "other" and app.screen is not picker
        await pilot.press("b", "n")
        await until(pilot, lambda: app.baseline is None)


def test_ended_runs_lists_what_cockpit_ls_finds_that_has_ended(tmp_path):
    scaled_run(tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "config.toml").write_text((RECORDED / "config.toml").read_text())  # no summary: not ended
    rows = ended_runs(tmp_path, exclude=tmp_path / "a")
    assert rows == []
    assert [r.run_dir.name for r in ended_runs(tmp_path)] == ["a"]


def test_an_attached_fork_shows_its_parent_by_default(tmp_path):
    parent = scaled_run(tmp_path / "parent")
    fork = tmp_path / "fork"
    shutil.copytree(RECORDED, fork)
    meta = json.loads((fork / "metadata.json").read_text())
    meta["parent"] = {"run_dir": str(parent), "checkpoint": str(parent / "checkpoints" / "x"), "from_step": 3000}
    (fork / "metadata.json").write_text(json.dumps(meta))
    app = create_attach_app(fork)
    assert app.baseline is not None and app.baseline.label == "parent (parent)"
    other = scaled_run(tmp_path / "other", 0.5)
    assert create_attach_app(fork, baseline=other).baseline.label == "other"


def cockpit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cockpit", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("command", ["run", "no-ui", "attach"])
def test_a_damaged_or_misplaced_baseline_is_one_line_and_exit_2(tmp_path, command):
    preset = write_tiny_preset(tmp_path / "tiny.toml")
    damaged = damaged_run(tmp_path / "damaged")
    args = {
        "run": [str(preset), "--baseline", str(damaged), "--run-dir", "new"],
        "no-ui": [str(preset), "--no-ui", "--baseline", str(scaled_run(tmp_path / "fine")), "--run-dir", "new"],
        "attach": ["attach", str(RECORDED), "--baseline", str(damaged)],
    }[command]
    result = cockpit(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert ("metrics.jsonl" if command != "no-ui" else "--no-ui") in lines[0]
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("size", [(80, 24), (120, 36), (160, 48)])
def test_snapshot_with_a_baseline(snap_compare, size, tmp_path_factory):
    base = tmp_path_factory.mktemp("runs") / "baseline-run"
    assert snap_compare(recorded_app(scaled_run(base)), terminal_size=size)


def test_a_fork_started_from_the_command_line_shows_its_parent_unless_it_is_damaged(tmp_path, capsys):
    from cockpit.ui.launch import fork_parent

    parent = scaled_run(tmp_path / "parent")
    found = fork_parent(parent / "checkpoints" / "step-000003000")
    assert found is not None and found.label == "parent (parent)"
    broken = damaged_run(tmp_path / "broken")
    assert fork_parent(broken / "checkpoints" / "step-000003000") is None
    (line,) = capsys.readouterr().out.splitlines()
    assert "not drawn as a baseline" in line and "metrics.jsonl" in line
