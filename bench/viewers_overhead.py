"""What attached viewers cost a headless run: training steps/s with 0, 1 and 3 viewers attached.

For R rounds, runs the same preset with the same seed and step count once per viewer count:
  `cockpit PRESET --no-ui --seed S --total-steps T --run-dir OUT/rN-vK` (stdout to a log)
with K viewer processes started *before* the run, so that they are attached from its first steps:
each waits for the run's control.json, then connects as `cockpit attach` does (its history from
the run's logs, then a subscription to the live updates, applied to a store) and reads until the
run ends; it does not draw (a drawing terminal would measure the machine's CPU, not the protocol).
Each run's `train_steps_per_s` comes from its summary.json (evaluation excluded). The ratio
K viewers / none is reported per round, then the median against the target: at most 5% slower
(ratio >= 0.95). The runs of a round must log the same metrics.jsonl (the timing figures are apart,
in timing.jsonl): viewers must not change results. Each viewer reports how many updates it got.

The runs of a round go one after the other and the order rotates from round to round (0,1,3 then
1,3,0 then 3,0,1): on a shared machine the load drifts, and a fixed order would charge that drift
to one side. The median of the per-round ratios damps a round an outside burst spoiled.

    .venv/bin/python bench/viewers_overhead.py                       # cartpole, 20,000 steps, 3 rounds
    .venv/bin/python bench/viewers_overhead.py --rounds 5 --total-steps 10000

Exit status: 0 when every median ratio meets the target and the results match, 1 when not,
2 when a run or a viewer failed. Run directories and logs are kept under --out (default: a new temp dir).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from overhead_runs import RunFailed, add_run_flags, check_run_flags, cockpit_cmd, finished_summary, metric_records

TARGET = 0.95
"""Viewers may cost the run at most 5% of its training speed."""
VIEWER_COUNTS = (0, 1, 3)
POLL_S = 0.05


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_run_flags(p, seed_help="the same for every run", rounds=3, rounds_help="rounds of one run per viewer count")
    p.add_argument("--viewer", type=Path, help=argparse.SUPPRESS)  # internal: be one viewer of this run dir
    args = p.parse_args()
    check_run_flags(p, args)
    return args


def viewer(run_dir: Path, timeout: float) -> int:
    """One viewer process: wait for the run to listen, attach as `cockpit attach` does, read to the end."""
    import cockpit.engine.history  # noqa: F401 (torch: imported before the run starts, not during it)
    from cockpit.engine.contract import RunState
    from cockpit.remote.client import Connection
    from cockpit.ui.launch import history_store

    print("ready", flush=True)
    deadline = time.monotonic() + timeout
    while not ((run_dir / "control.json").exists() and (run_dir / "config.toml").exists()):
        if time.monotonic() > deadline:
            print("viewer: the run never listened", file=sys.stderr)
            return 2
        time.sleep(POLL_S)
    pointer = json.loads((run_dir / "control.json").read_text())
    connection = Connection(pointer["socket"])
    store = history_store(run_dir)
    updates = []
    ended = threading.Event()
    connection.on_close = lambda reason: ended.set()

    def apply(update: dict) -> None:
        updates.append(update["version"])
        store.apply(update)

    connection.subscribe(apply, store.status.step).result(30)
    ended.wait(timeout)
    state = store.status.state
    print(
        json.dumps(
            {"updates": len(updates), "dropped": connection.dropped, "state": state.value, "step": store.status.step}
        )
    )
    return 0 if state == RunState.FINISHED else 2


def run(args: argparse.Namespace, run_dir: Path, viewers: int) -> tuple[dict, list[dict]]:
    """The headless run with `viewers` attached; its summary and what each viewer reports."""
    logs = [run_dir.with_name(f"{run_dir.name}.viewer{i}.log") for i in range(viewers)]
    procs = []
    for log in logs:
        with open(log, "w") as err:
            procs.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--viewer", str(run_dir), "--timeout", str(args.timeout)],
                    stdout=subprocess.PIPE,
                    stderr=err,
                    text=True,
                )
            )
    for proc, viewer_log in zip(procs, logs, strict=False):  # each has imported what `cockpit attach` imports (torch)
        if proc.stdout is None or proc.stdout.readline().strip() != "ready":
            raise RunFailed(f"a viewer did not start (log {viewer_log}): {viewer_log.read_text()[-500:]}")
    log = run_dir.with_name(run_dir.name + ".log")
    cmd = cockpit_cmd(args, run_dir)
    try:
        with open(log, "w") as out:
            rc = subprocess.run(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=args.timeout
            ).returncode
        if rc != 0:
            raise RunFailed(f"run exited {rc} (log {log})")
        reports = []
        for proc, viewer_log in zip(procs, logs, strict=False):
            report, _ = proc.communicate(timeout=60)
            if proc.returncode != 0:
                raise RunFailed(f"a viewer failed (log {viewer_log}): {viewer_log.read_text()[-500:]}")
            reports.append(json.loads(report.strip().splitlines()[-1]))
    except subprocess.TimeoutExpired:
        raise RunFailed(f"timed out after {args.timeout:.0f} s (log {log})") from None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return finished_summary(run_dir), reports


def main() -> int:
    args = parse_args()
    if args.viewer:
        return viewer(args.viewer, args.timeout)
    out = (args.out or Path(tempfile.mkdtemp(prefix="viewers-overhead-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{args.preset} · seed {args.seed} · {args.total_steps:,} steps · {args.rounds} rounds · viewers "
        f"{'/'.join(map(str, VIEWER_COUNTS))} · {os.cpu_count()} cores, load {load} → {out}",
        flush=True,
    )
    ratios: dict[int, list[float]] = {k: [] for k in VIEWER_COUNTS if k}
    all_same = True
    for r in range(1, args.rounds + 1):
        shift = (r - 1) % len(VIEWER_COUNTS)
        order = VIEWER_COUNTS[shift:] + VIEWER_COUNTS[:shift]
        sps = {}
        for k in order:
            run_dir = out / f"r{r}-v{k}"
            started = time.monotonic()
            try:
                summary, reports = run(args, run_dir, k)
            except RunFailed as e:
                print(f"round {r}, {k} viewers: {e}", file=sys.stderr)
                return 2
            sps[k] = summary["train_steps_per_s"]
            seen = ", ".join(f"{v['updates']} updates ({v['dropped']} dropped)" for v in reports) or "-"
            print(
                f"  round {r} · {k} viewers: {sps[k]:7,.0f} training steps/s · wall {time.monotonic() - started:5.1f} s"
                f" · viewers got {seen}",
                flush=True,
            )
        reference = metric_records(out / f"r{r}-v0")
        same = all(metric_records(out / f"r{r}-v{k}") == reference for k in ratios)
        all_same &= same
        for k in ratios:
            ratios[k].append(sps[k] / sps[0])
        print(
            f"  round {r}: "
            + " · ".join(f"{k} viewers / none {sps[k] / sps[0]:.3f}" for k in ratios)
            + f" · metrics.jsonl {'identical' if same else 'DIFFERENT'}",
            flush=True,
        )
    print()
    meets = True
    for k, values in ratios.items():
        median = statistics.median(values)
        meets &= median >= TARGET
        print(
            f"{k} viewer{'s' if k > 1 else ''}: median {median:.3f} of the speed with none (min {min(values):.3f}, "
            f"max {max(values):.3f}) · cost {(1 - median) * 100:+.1f}% · target ≤ {(1 - TARGET) * 100:.0f}%: "
            f"{'MET' if median >= TARGET else 'NOT MET'}"
        )
    print("results: " + ("identical with and without viewers in every round" if all_same else "DIFFER with viewers"))
    print(f"load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}; run dirs in {out}")
    return 0 if meets and all_same else 1


if __name__ == "__main__":
    sys.exit(main())
