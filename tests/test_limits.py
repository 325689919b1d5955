"""Upper bounds, the same for presets, `--set` and live changes: a value the machine cannot carry is
bad input before anything starts, not a failure a thousand steps in."""

from __future__ import annotations

import pytest
from tiny import tiny_config

from cockpit import cli
from cockpit.engine import resources
from cockpit.engine.config import ConfigError, build_config, validate_live_change

GIB = 2**30


@pytest.fixture
def four_gib(monkeypatch):
    monkeypatch.setattr(resources, "available_bytes", lambda: 4 * GIB)


@pytest.mark.parametrize(
    "override, expected",
    [
        (
            ["dqn.hidden_size=100000", "dqn.hidden_layers=2"],
            "dqn.hidden_size = 100000, dqn.hidden_layers = 2, dqn.buffer_size = 64: needs about",
        ),
        (["dqn.buffer_size=200000000"], "GiB of memory, 4.0 GiB available (expected a smaller network or buffer)"),
        (["dqn.learning_rate=1e308"], "dqn.learning_rate = 1e+308: expected a number in (0, 10]"),
        (["run.threads=1000"], "run.threads = 1000: expected an integer from 1 to"),
    ],
)
def test_a_run_the_machine_cannot_carry_is_refused_before_its_directory_exists(
    tiny_preset, tmp_path, capsys, four_gib, override, expected
):
    run_dir = tmp_path / "run"
    sets = [arg for text in override for arg in ("--set", text)]
    assert cli.main([str(tiny_preset), "--no-ui", *sets, "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.splitlines()) == 1
    assert not run_dir.exists()


def test_a_sweep_needs_memory_for_all_its_workers(monkeypatch, tiny_preset):
    config = tiny_config(dqn={"buffer_size": 30_000_000})
    need = resources.run_bytes(config, 4, 2)
    monkeypatch.setattr(resources, "available_bytes", lambda: int(need * 1.5))
    resources.check_memory(config, 4, 2, workers=1)
    with pytest.raises(ConfigError, match="2 runs at once .* or fewer --workers"):
        resources.check_memory(config, 4, 2, workers=2)


def test_a_live_change_has_the_same_bounds():
    with pytest.raises(ConfigError, match=r"expected a number in \(0, 10\]"):
        validate_live_change(tiny_config(), "learning_rate", 1e308)
    assert validate_live_change(tiny_config(), "learning_rate", 10) == 10.0


def test_available_memory_takes_the_cgroup_limit_where_lower(monkeypatch, tmp_path):
    reads = {"/sys/fs/cgroup/memory.max": str(3 * GIB), "/sys/fs/cgroup/memory.current": str(GIB)}
    monkeypatch.setattr(resources, "_read_int", lambda path: int(reads[str(path)]) if str(path) in reads else None)
    assert resources.available_bytes() <= 2 * GIB


def test_a_run_made_on_a_larger_machine_stays_readable():
    """The cores bound is checked where a run starts; reading a run's config back (eval, ls, compare,
    resume's checks) takes its threads as recorded."""
    assert build_config({"run": {"threads": 1000}}, "a run from elsewhere").run.threads == 1000
    with pytest.raises(ConfigError, match=r"run.threads = 1000: expected an integer from 1 to \d+"):
        resources.check_threads(build_config({"run": {"threads": 1000}}, "a new run"))
