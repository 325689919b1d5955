"""Calibration of the live alerts: false alarms on healthy runs, detection of injected faults.

Healthy: each configuration trains at full length (no shortening: false alarms grow with length)
over seeds 1, 2, 3 — the cartpole, acrobot and mountaincar presets at their own values, and
CleanRL's `dqn.py` defaults on CartPole-v1 and Acrobot-v1 for 500,000 steps. A healthy run's false
alarms are all its alerts, except `flat_return` / `no_progress` on a seed that never reached its
target (that alert is then right). Target: none on every run.

Faults: the cartpole preset, seed 1, full length, with one fault injected through `Trainer.step_hook`
or the config, from mid-run unless it starts at step 0. A fault is detected when one of the alerts
that must name it fires within 10% of the run's length after the fault.

Runs are in-process `Trainer`s with no run directory, several at a time in a process pool (one run
is single-threaded). Progress goes to stderr; stdout is markdown for docs/benchmarks.md.

    .venv/bin/python bench/alerts_calibration.py                      # everything: the longest bench
    .venv/bin/python bench/alerts_calibration.py --only faults
    .venv/bin/python bench/alerts_calibration.py --only healthy --configs cleanrl-cartpole --seeds 2
    .venv/bin/python bench/alerts_calibration.py --quick              # smoke test: short runs, 1 seed
"""

from __future__ import annotations

import argparse
import multiprocessing
import shlex
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cockpit.engine.config import Config, build_config, load_preset
from cockpit.engine.metrics import MetricsStore

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ROOT / "presets"
SEEDS = (1, 2, 3)
FLAT_ALERTS = frozenset({"flat_return", "no_progress"})
MAX_DELAY = 0.10
"""Detection delay allowed after a fault, as a fraction of the run's length (issue 17)."""

CLEANRL_STEPS = 500_000
CLEANRL_EVAL_FREQ = 5_000
"""CleanRL evaluates only after training; cockpit judges learning by scheduled evaluations, and
every 5,000 steps keeps a 500-step CartPole's greedy episodes from outweighing its training."""
CLEANRL_DQN = {
    "learning_rate": 2.5e-4,
    "batch_size": 128,
    "gamma": 0.99,
    "epsilon_start": 1.0,
    "epsilon_end": 0.05,
    "epsilon_decay": CLEANRL_STEPS // 2,  # exploration_fraction 0.5 of total_timesteps
    "buffer_size": 10_000,
    "target_update": 500,  # target_network_frequency, tau 1.0
    "hidden_size": 128,  # CleanRL's QNetwork is 120 then 84 units; cockpit's layers share one width
    "hidden_layers": 2,
    "warmup_steps": 10_000,
    "train_freq": 10,
    "gradient_steps": 1,
    "loss": "mse",
    "max_grad_norm": 0.0,  # CleanRL does not clip gradients
    "double_dqn": False,
}
"""cleanrl/dqn.py's Args defaults (github.com/vwxyzjn/cleanrl, commit fe8d8a0), in cockpit's names."""

QUICK_STEPS = 10_000


def cleanrl_config(preset: str, name: str) -> Config:
    """CleanRL's values on the env (and target) of one of cockpit's presets."""
    tables = tomllib.loads((PRESETS / f"{preset}.toml").read_text())
    tables["dqn"] = dict(CLEANRL_DQN)
    tables["run"] = {**tables["run"], "total_steps": CLEANRL_STEPS, "eval_freq": CLEANRL_EVAL_FREQ}
    return build_config(tables, name, name=name)


def healthy_configs() -> dict[str, Config]:
    return {
        "cartpole": load_preset(PRESETS / "cartpole.toml"),
        "acrobot": load_preset(PRESETS / "acrobot.toml"),
        "mountaincar": load_preset(PRESETS / "mountaincar.toml"),
        "cleanrl-cartpole": cleanrl_config("cartpole", "cleanrl-cartpole"),
        "cleanrl-acrobot": cleanrl_config("acrobot", "cleanrl-acrobot"),
    }


# ------------------------------------------------------------------------------------------- faults
Hook = Callable[[object, int, tuple], tuple]


def scaled_rewards(factor: float) -> Callable[[int], Hook]:
    def make(fault_step: int) -> Hook:
        def hook(trainer, action, result):
            if trainer.step < fault_step:
                return result
            obs, reward, terminated, truncated, info = result
            return obs, reward * factor, terminated, truncated, info

        return hook

    return make


def once_at(act: Callable[[object], None]) -> Callable[[int], Hook]:
    """A hook that calls `act(trainer)` at the fault step and otherwise passes the step through."""

    def make(fault_step: int) -> Hook:
        done = False

        def hook(trainer, action, result):
            nonlocal done
            if not done and trainer.step >= fault_step:
                done = True
                act(trainer)
            return result

        return hook

    return make


def raise_learning_rate(trainer) -> None:
    """Through the live-change path a user would take, so its checks see the value."""
    lr = trainer.dqn.learning_rate * 1000
    future = trainer.control.set("learning_rate", lr, source="fault")
    if future.done() and not future.result().ok:
        raise RuntimeError(f"fault not injected: learning_rate = {lr:g} refused: {future.result().error}")


def freeze_network(trainer) -> None:
    """Around the live-change checks on purpose: the network stops learning without any event."""
    trainer.agent.set_learning_rate(0.0)


def shuffled_observations(fault_step: int) -> Hook:
    rng = np.random.default_rng(0)

    def hook(trainer, action, result):
        obs, reward, terminated, truncated, info = result
        return rng.permutation(obs), reward, terminated, truncated, info

    return hook


@dataclass(frozen=True)
class Fault:
    name: str
    expected: tuple[str, ...]  # any one of them names the fault
    mid_run: bool = True  # else from step 0
    hook: Callable[[int], Hook] | None = None  # built in the worker from the fault step
    dqn: dict = field(default_factory=dict)  # config changes


FAULTS = {
    f.name: f
    for f in (
        Fault("rewards x1000", ("q_out_of_range",), hook=scaled_rewards(1000.0)),
        Fault("rewards zeroed", ("no_reward", "q_near_zero"), hook=scaled_rewards(0.0)),
        Fault("learning rate x1000", ("loss_spike", "grad_spike", "non_finite"), hook=once_at(raise_learning_rate)),
        Fault("network frozen", ("no_learning_signal",), hook=once_at(freeze_network)),
        Fault("observations shuffled", ("no_progress", "flat_return"), mid_run=False, hook=shuffled_observations),
        Fault(
            "epsilon stuck at 0",
            ("no_exploration", "action_collapse", "low_entropy"),
            mid_run=False,
            dqn={"epsilon_start": 0.0, "epsilon_end": 0.0},
        ),
    )
}
FAULT_PRESET = "cartpole"


# ------------------------------------------------------------------------------------------- runs
@dataclass(frozen=True)
class Job:
    label: str
    config: Config
    seed: int
    fault: str | None = None


@dataclass(frozen=True)
class Result:
    job: Job
    status: str
    error: str | None
    fault_step: int
    reached_at: int | None  # first scheduled evaluation reaching the target
    target: float
    final_eval: float | None
    best_eval: float | None
    alerts: list[tuple[str, int]]  # (name, step), in order
    wall_s: float
    margins: dict  # how near the run came to the spike and Q-range alerts (HealthMonitor.margins)


def run_job(job: Job) -> Result:
    """One run in a worker process; every alert event is kept (the store's default keeps 2,000 events)."""
    from cockpit.engine.trainer import Trainer

    config = job.config.replace("run", seed=job.seed)
    fault = FAULTS.get(job.fault) if job.fault else None
    fault_step = config.run.total_steps // 2 if fault and fault.mid_run else 0
    if fault and fault.dqn:
        config = config.replace("dqn", **fault.dqn)
    store = MetricsStore(max_events=sys.maxsize)
    trainer = Trainer(config, run_dir=None, store=store)
    if fault and fault.hook:
        trainer.step_hook = fault.hook(fault_step)
    started = time.monotonic()
    summary = trainer.run()
    alerts = [(e.get("name"), e.step) for e in store.events if e.kind == "alert"]
    live = [e.step for e in store.events if e.kind == "hparam" and e.get("source") == "fault"]
    fault_step = live[0] if live else fault_step  # a live change takes effect at the next step boundary
    return Result(
        job,
        summary["status"],
        summary["error"],
        fault_step,
        summary["first_step_reaching_target"],
        summary["target_return"],
        summary["final_eval_return"],
        summary["best_eval_return"],
        alerts,
        time.monotonic() - started,
        trainer.health.margins(),
    )


def quick(config: Config) -> Config:
    """A smoke-test length: the schedule and the evaluations shrunk with it."""
    config = config.replace(
        "run",
        total_steps=QUICK_STEPS,
        eval_freq=min(config.run.eval_freq, 1_000),
        eval_episodes=min(config.run.eval_episodes, 3),
    )
    return config.replace(
        "dqn",
        warmup_steps=min(config.dqn.warmup_steps, 500),
        epsilon_decay=min(config.dqn.epsilon_decay, QUICK_STEPS // 2),
    )


def run_all(jobs: list[Job], workers: int) -> list[Result]:
    """Results in the jobs' order; the longest start first, so the pool's last minutes are not one
    long run alone."""
    results: dict[int, Result] = {}
    context = multiprocessing.get_context("spawn")  # no torch state inherited through fork
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        longest_first = sorted(range(len(jobs)), key=lambda i: -jobs[i].config.run.total_steps)
        futures = {pool.submit(run_job, jobs[i]): i for i in longest_first}
        for future in as_completed(futures):
            r = results[futures[future]] = future.result()
            what = r.job.fault or f"seed {r.job.seed}"
            print(
                f"  {r.job.label} · {what}: {r.status}, {len(r.alerts)} alerts, {r.wall_s:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    return [results[i] for i in range(len(jobs))]


# ----------------------------------------------------------------------------------------- tables
def fmt(value: float | None, spec: str = ".1f") -> str:
    return "—" if value is None else format(value, spec)


def by_kind(alerts: list[tuple[str, int]]) -> str:
    counts = Counter(name for name, _ in alerts)
    return ", ".join(f"{name} ×{n}" for name, n in sorted(counts.items())) or "none"


def false_alarms(r: Result) -> int:
    allowed = FLAT_ALERTS if r.reached_at is None else frozenset()
    return sum(name not in allowed for name, _ in r.alerts)


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def healthy_table(results: list[Result]) -> str:
    rows = []
    for r in results:
        c = r.job.config
        status = r.status if not r.error else f"{r.status}: {r.error}"
        rows.append(
            [
                r.job.label,
                f"{c.run.total_steps:,}",
                str(r.job.seed),
                fmt(r.target, "g"),
                "no" if r.reached_at is None else f"at {r.reached_at:,}",
                fmt(r.final_eval),
                fmt(r.best_eval),
                by_kind(r.alerts),
                str(false_alarms(r)),
                margins(r),
                status,
            ]
        )
    headers = [
        "config",
        "steps",
        "seed",
        "target",
        "reached target",
        "final eval",
        "best eval",
        "alerts by kind",
        "false alarms",
        "closest: loss z / grad z / both z / mean Q, max Q past range",
        "status",
    ]
    clean = sum(false_alarms(r) == 0 for r in results)
    total = sum(false_alarms(r) for r in results)
    return (
        f"{table(headers, rows)}\n\n{clean}/{len(results)} healthy runs without a false alarm; "
        f"{total} false alarms in all."
    )


def margins(r: Result) -> str:
    """The highest robust z held for the persistence (alerts at alerts.*_spike_factor), and how far Q
    went past its range in range widths (alerts at q_bound_factor - 1)."""
    m = r.margins
    return (
        f"{m['loss_z']:.1f} / {m['grad_z']:.1f} / {m['joint_z']:.1f} / "
        f"{m['mean_q_excess']:+.2f} / {m['max_q_excess']:+.2f}"
    )


def fault_row(r: Result) -> list[str]:
    assert r.job.fault is not None, "a fault row of a healthy run"
    fault = FAULTS[r.job.fault]
    length = r.job.config.run.total_steps
    firsts: dict[str, int] = {}
    for name, step in r.alerts:
        if name in fault.expected and step >= r.fault_step:
            firsts.setdefault(name, step)
    first_cells = [f"{name} at {firsts[name]:,}" if name in firsts else f"{name} —" for name in fault.expected]
    delay = (min(firsts.values()) - r.fault_step) / length if firsts else None
    detected = delay is not None and delay <= MAX_DELAY
    before = sum(step < r.fault_step for _, step in r.alerts)
    others = [(name, step) for name, step in r.alerts if name not in fault.expected]
    return [
        fault.name,
        f"{r.fault_step:,}",
        "<br>".join(first_cells),
        fmt(None if delay is None else 100 * delay),
        "yes" if detected else "**no**",
        by_kind(others),
        str(before),
        margins(r),
        r.status,
    ]


def faults_table(results: list[Result]) -> str:
    headers = [
        "fault",
        "fault step",
        "first firing of the expected alerts",
        "delay (% of run)",
        f"detected ≤ {MAX_DELAY:.0%}",
        "other alerts",
        "alerts before the fault",
        "closest: loss z / grad z / both z / mean Q, max Q past range",
        "status",
    ]
    rows = [fault_row(r) for r in results]
    detected = sum(row[4] == "yes" for row in rows)
    length = results[0].job.config.run.total_steps if results else 0
    return (
        f"{table(headers, rows)}\n\n{detected}/{len(rows)} faults detected within {MAX_DELAY:.0%} of the "
        f"run ({FAULT_PRESET} preset, seed 1, {length:,} steps)."
    )


# ------------------------------------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", choices=("healthy", "faults"), help="run one part only")
    p.add_argument("--configs", help=f"comma list of healthy configs (default all: {', '.join(healthy_configs())})")
    p.add_argument("--faults", help=f"comma list of faults (default all: {', '.join(FAULTS)})")
    p.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="comma list of seeds for healthy runs")
    p.add_argument("--workers", type=int, default=2, help="runs at a time (default 2)")
    p.add_argument("--quick", action="store_true", help=f"smoke test: {QUICK_STEPS:,} steps, one seed")
    return p.parse_args()


def pick(names: str | None, known: dict, what: str) -> list[str]:
    chosen = names.split(",") if names else list(known)
    unknown = [n for n in chosen if n not in known]
    if unknown:
        sys.exit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return chosen


def commit() -> str:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def main() -> int:
    args = parse_args()
    configs = healthy_configs()
    seeds = [int(s) for s in args.seeds.split(",")][: 1 if args.quick else None]
    shorten = quick if args.quick else (lambda c: c)
    healthy = (
        []
        if args.only == "faults"
        else [
            Job(name, shorten(configs[name]), seed) for name in pick(args.configs, configs, "config") for seed in seeds
        ]
    )
    faults = (
        []
        if args.only == "healthy"
        else [Job(FAULT_PRESET, shorten(configs[FAULT_PRESET]), 1, name) for name in pick(args.faults, FAULTS, "fault")]
    )

    started = time.monotonic()
    print(f"{len(healthy)} healthy runs and {len(faults)} fault runs, {args.workers} at a time", file=sys.stderr)
    results = run_all(healthy + faults, args.workers)
    wall = time.monotonic() - started

    command = shlex.join([".venv/bin/python", "bench/alerts_calibration.py", *sys.argv[1:]])
    print(
        f"`{command}` (commit {commit()}, {wall / 60:.1f} min with {args.workers} workers"
        f"{'; --quick: shortened runs, not a calibration' if args.quick else ''})"
    )
    if healthy:
        print("\n### Healthy runs: false alarms\n")
        print(healthy_table([r for r in results if r.job.fault is None]))
    if faults:
        print("\n### Injected faults: detection\n")
        print(faults_table([r for r in results if r.job.fault is not None]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
