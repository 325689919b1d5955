"""What the live UI costs the trainer: training steps/s with the cockpit on screen against --no-ui.

For R rounds, runs the same preset with the same seed and step count twice:
  headless  `cockpit PRESET --no-ui --seed S --total-steps T --run-dir OUT/rN-headless` (stdout to a log)
  UI        the same without --no-ui, in a detached tmux session of a given size (a real terminal:
            Textual draws into a pty that tmux reads and keeps a screen of). When the run's
            summary.json appears the script sends `q` (a finished run quits without confirming).
Each run's `train_steps_per_s` comes from its summary.json: steps over training time, evaluation
excluded. The ratio UI / headless is reported per round, then the median against the target: the
UI may cost at most 10% (ratio >= 0.90). The two runs of a round must also log the same
metrics.jsonl (the timing figures are apart, in timing.jsonl): the UI must not change results.

The runs of a round go one after the other, never at once, and the order alternates (headless
then UI, then UI then headless, ...): on a shared machine the load drifts over minutes, and a
fixed order would charge that drift to one side. On a loaded machine the second run of a round
can also be slower than the first, whichever it is, so rounds are paired, one of each order, and
a pair's figure is the geometric mean of its two ratios, which cancels a position effect; the
median over pairs (over rounds when there is only one) then damps a pair that an outside burst
spoiled. The script prints the position effect it saw, and the CPU
time of the UI run's threads (from /proc) as a share of its wall time: a figure that, unlike
steps/s, does not swing with the machine's load.

tmux runs on a private server (`tmux -L <unique socket>`, no user config), so it neither sees nor
disturbs other tmux servers; it is killed (and its socket removed) after each UI run, error or
not. Its config turns the status line off (the pane gets the whole WIDTHxHEIGHT) and keeps a
pane whose program exited, so that its last screen can be read (the exit status is written to
OUT/rN-ui.rc by the pane's shell).

    .venv/bin/python bench/ui_overhead.py                       # cartpole, 20,000 steps, 4 rounds, 160x48
    .venv/bin/python bench/ui_overhead.py --size 80x24 --rounds 2
    .venv/bin/python bench/ui_overhead.py presets/acrobot.toml --seed 2 --total-steps 10000

Exit status: 0 when the median ratio meets the target and every round's results match, 1 when
not, 2 when a run failed or timed out. Run directories (with the UI's last screen in screen.txt)
are kept under --out (default: a new temp dir).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from overhead_runs import RunFailed, add_run_flags, check_run_flags, cockpit_cmd, finished_summary, metric_records

TARGET = 0.90
"""The UI may cost at most 10% of the headless training speed."""
POLL_S = 0.5
TMUX_CONF = "set -g status off\nset -g remain-on-exit on\nset -g history-limit 2000\n"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_run_flags(p, seed_help="the same for both sides", rounds=4, rounds_help="rounds of one headless and one UI run")
    p.add_argument("--size", default="160x48", help="the UI's terminal, COLUMNSxROWS (default 160x48)")
    args = p.parse_args()
    check_run_flags(p, args)
    match = re.fullmatch(r"(\d+)x(\d+)", args.size)
    if not match or int(match[1]) < 20 or int(match[2]) < 10:
        p.error(f"--size {args.size}: expected COLUMNSxROWS, e.g. 160x48")
    args.columns, args.rows = int(match[1]), int(match[2])
    return args


def run_headless(args: argparse.Namespace, run_dir: Path) -> dict:
    log = run_dir.with_name(run_dir.name + ".log")
    with open(log, "w") as out:
        try:
            rc = subprocess.run(
                cockpit_cmd(args, run_dir, headless=True),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=args.timeout,
            ).returncode
        except subprocess.TimeoutExpired:
            raise RunFailed(f"headless run timed out after {args.timeout:.0f} s (log {log})") from None
    if rc != 0 or not (run_dir / "summary.json").exists():
        raise RunFailed(f"headless run exited {rc} (log {log})")
    return finished_summary(run_dir)


class Tmux:
    """A private tmux server (its own socket, no user config) holding one session; close() kills it."""

    def __init__(self, out: Path):
        self.socket = f"cockpit-ui-overhead-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.session = f"ui-overhead-{uuid.uuid4().hex[:8]}"
        self.conf = out / "tmux.conf"
        self.conf.write_text(TMUX_CONF)
        self.started = False
        # Where `tmux -L` puts the socket; kill-server leaves the file behind.
        self.socket_path = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / self.socket

    def __call__(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", str(self.conf), *argv],
            capture_output=True,
            text=True,
            check=check,
            stdin=subprocess.DEVNULL,
        )

    def start(self, cmd: list[str], columns: int, rows: int, cwd: Path, rc_file: Path) -> None:
        """Runs cmd in the session's pane, then writes its exit status to rc_file: tmux's own
        #{pane_dead_status} can stay empty for seconds after the program ends."""
        self.started = True
        result = self(
            "new-session",
            "-d",
            "-s",
            self.session,
            "-x",
            str(columns),
            "-y",
            str(rows),
            "-c",
            str(cwd),
            f"{shlex.join(cmd)}; echo $? > {shlex.quote(str(rc_file))}",
            check=False,
        )
        if result.returncode != 0:
            raise RunFailed(f"tmux new-session failed: {result.stderr.strip()}")

    def pane(self, fmt: str) -> str | None:
        """A pane format value (e.g. #{pane_dead}), None once the session is gone."""
        result = self("display-message", "-p", "-t", self.session, fmt, check=False)
        return result.stdout.strip() if result.returncode == 0 else None

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", self.session, check=False).stdout

    def output(self) -> str:
        """What the pane shows and its history (an early error scrolls off), blank lines left out."""
        text = self("capture-pane", "-p", "-S", "-", "-t", self.session, check=False).stdout
        return "\n".join(line for line in text.splitlines() if line.strip())

    def close(self) -> None:
        if self.started:
            self("kill-server", check=False)
            self.started = False
        self.socket_path.unlink(missing_ok=True)


def exit_status(rc_file: Path) -> str:
    """The UI's exit status as the pane's shell wrote it ("0" on success)."""
    try:
        return rc_file.read_text().strip() or "?"
    except FileNotFoundError:
        return "(no status written)"


def stat_fields(stat: Path) -> list[str] | None:
    """The fields of a /proc stat file after the command's name (which may hold spaces and
    parentheses), from the process state on; None once the process or thread is gone."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def thread_ticks(pid: int) -> dict[int, int]:
    """CPU time (clock ticks, user + system) of each thread of a process; {} once it is gone."""
    ticks = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        if fields := stat_fields(task / "stat"):
            ticks[int(task.name)] = int(fields[11]) + int(fields[12])
    return ticks


def cockpit_pid(shell_pid: int) -> int | None:
    """The cockpit process the pane's shell started (its child)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = stat_fields(stat)
        if fields and int(fields[1]) == shell_pid:
            return int(stat.parent.name)
    return None


def cpu_shares(first: tuple[float, dict], last: tuple[float, dict], pid: int) -> dict[str, float]:
    """Each thread's CPU time between two samples, as a share of the wall time between them: the UI's
    main thread, the busiest other thread (the trainer) and the rest. Unlike steps/s this does not
    swing with the machine's load: what the UI thread takes is what the trainer, waiting on the GIL,
    cannot have."""
    (t0, a), (t1, b) = first, last
    tick = os.sysconf("SC_CLK_TCK")
    used = {tid: (b[tid] - a.get(tid, 0)) / tick / (t1 - t0) for tid in b}
    main = used.pop(pid, 0.0)
    trainer = max(used.values(), default=0.0)
    return {"ui": main, "trainer": trainer, "other": sum(used.values()) - trainer}


def run_ui(args: argparse.Namespace, run_dir: Path, out: Path) -> tuple[dict, float, dict | None]:
    """The UI run in tmux; returns its summary, how long `q` took to close the app, and its threads'
    CPU shares from 3 s after the start to the end of training."""
    tmux = Tmux(out)
    try:
        rc_file = run_dir.with_name(run_dir.name + ".rc")
        tmux.start(cockpit_cmd(args, run_dir, headless=False), args.columns, args.rows, Path.cwd(), rc_file)
        size = tmux.pane("#{pane_width}x#{pane_height}")
        if size is not None and size != f"{args.columns}x{args.rows}":
            raise RunFailed(f"the tmux pane is {size}, not {args.columns}x{args.rows}")
        started = time.monotonic()
        deadline = started + args.timeout
        shell, pid, samples = tmux.pane("#{pane_pid}"), None, []
        while not (run_dir / "summary.json").exists():
            if tmux.pane("#{pane_dead}") != "0":
                raise RunFailed(f"the UI exited {exit_status(rc_file)} before summary.json:\n{tmux.output()}")
            if time.monotonic() > deadline:
                raise RunFailed(f"UI run timed out after {args.timeout:.0f} s:\n{tmux.output()}")
            if pid is None and shell:
                pid = cockpit_pid(int(shell))
            if pid is not None and time.monotonic() - started > 3:
                ticks = thread_ticks(pid)
                if ticks:
                    samples.append((time.monotonic(), ticks))
            time.sleep(POLL_S)
        shares = cpu_shares(samples[0], samples[-1], pid) if pid is not None and len(samples) >= 4 else None
        time.sleep(POLL_S)  # one refresh of the final state, for screen.txt
        screen = tmux.screen()
        (run_dir / "screen.txt").write_text(screen)
        if "Quit" not in screen:  # the footer, at every size
            raise RunFailed(f"the pane does not show the cockpit:\n{screen}")
        tmux("send-keys", "-t", tmux.session, "q")
        sent = time.monotonic()
        while tmux.pane("#{pane_dead}") == "0":
            if time.monotonic() - sent > 60:
                raise RunFailed(f"the UI did not quit within 60 s of q:\n{tmux.output()}")
            time.sleep(0.1)
        quit_s = time.monotonic() - sent
        status = exit_status(rc_file)
        if status != "0":
            raise RunFailed(f"the UI exited {status}:\n{tmux.output()}")
        return finished_summary(run_dir), quit_s, shares
    finally:
        tmux.close()


def same_results(a: Path, b: Path) -> tuple[bool, str]:
    ra, rb = metric_records(a), metric_records(b)
    if ra == rb:
        return True, f"{len(ra)} lines identical"
    for i, (x, y) in enumerate(zip(ra, rb, strict=False)):
        if x != y:
            keys = sorted(k for k in x.keys() | y.keys() if x.get(k) != y.get(k))
            return False, f"line {i + 1} differs in {', '.join(keys)}"
    return False, f"{len(ra)} lines against {len(rb)}"


def main() -> int:
    args = parse_args()
    if shutil.which("tmux") is None:
        print("tmux not found: the UI side needs a terminal", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="ui-overhead-"))
    out.mkdir(parents=True, exist_ok=True)
    out = out.resolve()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{args.preset} · seed {args.seed} · {args.total_steps:,} steps · {args.rounds} rounds · UI in tmux "
        f"{args.columns}x{args.rows} · {os.cpu_count()} cores, load {load} → {out}",
        flush=True,
    )

    rows, ratios, second_over_first, cpu, all_same = [], [], [], [], True
    for r in range(1, args.rounds + 1):
        order = ("headless", "ui") if r % 2 else ("ui", "headless")
        sps, quit_s = {}, None
        dirs = {side: out / f"r{r}-{side}" for side in order}
        for side in order:
            started = time.monotonic()
            try:
                if side == "headless":
                    summary = run_headless(args, dirs[side])
                else:
                    summary, quit_s, shares = run_ui(args, dirs[side], out)
                    if shares:
                        cpu.append(shares)
            except RunFailed as e:
                print(f"round {r}, {side}: {e}", file=sys.stderr)
                return 2
            sps[side] = summary["train_steps_per_s"]
            wall = time.monotonic() - started
            quit_text = f" · quit {quit_s:.1f} s after q" if side == "ui" else ""
            print(
                f"  round {r} {side:>8}: {sps[side]:7,.0f} training steps/s · wall {wall:5.1f} s{quit_text}", flush=True
            )
        same, detail = same_results(dirs["headless"], dirs["ui"])
        all_same &= same
        ratio = sps["ui"] / sps["headless"]
        ratios.append(ratio)
        second_over_first.append(sps[order[1]] / sps[order[0]])
        rows.append(
            [
                str(r),
                " → ".join(order),
                f"{sps['headless']:,.0f}",
                f"{sps['ui']:,.0f}",
                f"{ratio:.3f}",
                ("same: " if same else "DIFFERENT: ") + detail,
            ]
        )

    headers = ["round", "order", "headless steps/s", "UI steps/s", "UI/headless", "metrics.jsonl"]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    print()
    for row in [headers] + rows:
        print(
            "  ".join(
                cell.rjust(w) if i < 5 else cell for i, (cell, w) in enumerate(zip(row, widths, strict=False))
            ).rstrip()
        )
    pairs = [math.sqrt(a * b) for a, b in zip(ratios[::2], ratios[1::2], strict=False)]
    median = statistics.median(pairs or ratios)
    meets = median >= TARGET
    print(f"\nthe second run of a round against the first: median {statistics.median(second_over_first):.3f}")
    print(
        f"UI/headless per round: median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})"
        + (
            f"; per pair of rounds in opposite orders (geometric mean): {', '.join(f'{x:.3f}' for x in pairs)}"
            if pairs
            else ""
        )
    )
    print(
        f"UI/headless {median:.3f}{' (median over pairs)' if pairs else ''}: the UI costs "
        f"{(1 - median) * 100:.1f}% of training speed at {args.columns}x{args.rows} · "
        f"target ≤ {(1 - TARGET) * 100:.0f}%: {'MET' if meets else 'NOT MET'}"
    )
    if cpu:

        def share(key: str) -> float:
            return statistics.median(c[key] for c in cpu)

        print(
            f"CPU of the UI run's threads, as a share of its wall time (median of {len(cpu)} runs): the UI's main "
            f"thread {share('ui'):.1%}, the trainer's {share('trainer'):.1%}, the others {share('other'):.1%}"
        )
    print(
        "results: "
        + (
            "identical with and without the UI in every round"
            if all_same
            else "DIFFER between the UI and headless runs"
        )
    )
    print(f"load average now {' '.join(f'{x:.2f}' for x in os.getloadavg())}; run dirs in {out}")
    return 0 if meets and all_same else 1


if __name__ == "__main__":
    sys.exit(main())
