"""Training speed against the peers, loop efficiency, and peak memory, measured side by side.

    .venv/bin/python bench/speed.py [--rounds 2] [--total-steps 20000] [--skip-peers] [--compute autograd]

1. Loop efficiency, in this process: the time of one CartPole env step, one greedy action and one
   update of the preset's network with the drawing of its replay sample, as the trainer draws it
   (each the median of several timed batches), and the ceiling they allow,
   1 / (env step + action + update); then the trainer's own steps/s once epsilon has reached
   its end (every step acts greedily and updates), per 100-step chunk, with the isolated costs
   timed again after every chunk. Target: at least 90% of the ceiling. Beside it, the same three costs each timed
   right after a busy-wait as long as the other two take, which touches no memory: on a shared
   machine a part's caches decay in that time whatever runs, and the trainer's steps/s against that
   ceiling is what the loop loses beyond that decay. Last, each part timed right after the other
   parts run themselves: what the parts evict of each other's caches, which a hot isolated timing
   never pays and any loop alternating them does. `--compute autograd` measures the same loop with
   the autograd update.
2. Against Stable-Baselines3 and CleanRL (../shared/bench/peers/, set up by its setup.sh): each
   round runs cockpit headless, SB3 and CleanRL one after another, the order rotating per round, at
   the cartpole preset's hyperparameters with one torch thread. Machines differ 2x in speed, so
   only the ratios within a round mean anything. Targets: >= 2x SB3, >= 1.5x CleanRL.
3. Peak RSS of each whole process (getrusage of the child). Target: cockpit <= CleanRL.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS_DIR = ROOT.parent / "shared" / "bench" / "peers"
PEERS_ENV = Path(os.environ.get("PEERS", "/tmp/cockpit-peers"))
CLEANRL = Path(os.environ.get("CLEANRL", "/tmp/cleanrl"))
MEASURE = (
    "import resource, subprocess, sys, json; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "print(json.dumps({'rc': p.returncode, 'out': p.stdout[-4000:], 'err': p.stderr[-2000:], "
    "'rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))"
)


def timed(fn, batches: int = 7, per_batch: int = 300) -> float:
    """Median seconds per call over several batches."""
    fn()
    samples = []
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(per_batch):
            fn()
        samples.append((time.perf_counter() - start) / per_batch)
    return statistics.median(samples)


def timed_after_gap(fn, gap_s: float, calls: int) -> float:
    """Median seconds of one call made right after `gap_s` of busy-waiting that touches no memory:
    the call's cost when its caches have aged as long as the rest of a step lasts, with nothing of
    ours running meanwhile. On a shared machine they age anyway (other tenants evict them), and an
    isolated figure, timed with its caches hot, hides that."""
    samples = []
    for _ in range(calls):
        busy_wait(gap_s)
        samples.append(call_time(fn))
    return statistics.median(samples)


def busy_wait(seconds: float) -> None:
    """Spin for `seconds`, touching no memory (a sleep would hand the core to whatever else runs)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def call_time(fn) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def step_parts(config) -> tuple:
    """A scratch trainer, beside any real run (its network, and its replay buffer filled as in a
    long run), and the three parts of a step on it, as the ceiling times them, in the loop's order:
    {"act", "env_step", "update"} (the update draws its replay sample, as the trainer's does)."""
    import numpy as np

    from cockpit.engine.envs import make_env
    from cockpit.engine.trainer import Trainer

    scratch = Trainer(config)
    env = make_env(config.env)
    env.reset(seed=0)
    rng = np.random.default_rng(0)

    def env_step():
        _, _, terminated, truncated, _ = env.step(int(rng.integers(2)))
        if terminated or truncated:
            env.reset()

    obs = env.observation_space.sample()
    for _ in range(config.dqn.buffer_size):
        scratch.buffer.add(obs, obs, int(rng.integers(2)), 1.0, False)
    agent, sampler, dqn, obs_dim = scratch.agent, scratch.sampler, config.dqn, scratch.info.obs_dim
    return scratch, {
        "act": lambda: agent.act(obs),
        "env_step": env_step,
        "update": lambda: agent.update(sampler.rows(dqn.batch_size), obs_dim, dqn),
    }


def loop_efficiency(preset: Path, chunks: int = 400, overrides: tuple[str, ...] = ()) -> dict:
    """The trainer runs in this thread; after each of its 100-step chunks (the training time it
    measures and publishes as steps/s), still in its thread, the three costs are timed in isolation
    (a few milliseconds), so every chunk's steps/s is compared with the ceiling measured just before
    and just after it. This machine's speed swings by tens of percent within a second (and by 15x
    for tens of milliseconds); interleaving this finely, and taking medians, keeps those swings out
    of the ratio. The timing's own time is taken out of the next chunk, which the trainer counts
    from the end of the previous one (its publish included); each chunk then starts with the caches
    the timings left (the last thing timed is a few steps of the bare loop below)."""
    import torch

    from cockpit.engine.config import load_preset
    from cockpit.engine.envs import make_env
    from cockpit.engine.metrics import PUBLISH_EVERY
    from cockpit.engine.trainer import Trainer

    first = 10_500  # epsilon has reached its end by then: every step acts greedily and updates
    config = load_preset(
        preset, [f"run.total_steps={first + (chunks + 1) * PUBLISH_EVERY}", "run.eval_freq=1000000", *overrides]
    )
    torch.set_num_threads(config.run.threads)
    scratch, parts = step_parts(config)
    act, env_step, update = parts["act"], parts["env_step"], parts["update"]
    agent, buffer, sampler, dqn = scratch.agent, scratch.buffer, scratch.sampler, config.dqn

    # A loop made of nothing else: act, env step, replay write, sample and update in turn. What it
    # loses against the isolated costs is the machine's (each part runs with the caches the others
    # left); what the trainer loses against it is the trainer's own.
    bare_env = make_env(config.env)
    bare_obs = [bare_env.reset(seed=1)[0]]

    def bare_step():
        o = bare_obs[0]
        action = agent.act(o)
        next_o, reward, terminated, truncated, _ = bare_env.step(action)
        buffer.add(o, next_o, action, reward, terminated)
        agent.update(sampler.rows(dqn.batch_size), scratch.info.obs_dim, dqn)
        bare_obs[0] = bare_env.reset()[0] if terminated or truncated else next_o

    def isolated() -> dict:
        hot = {"env_step": timed(env_step, 3, 10), "act": timed(act, 3, 10), "update": timed(update, 3, 2)}
        costs = dict(hot)
        # The same three, each after a busy-wait as long as the other two take (see timed_after_gap).
        for name, fn, calls in (("env_step", env_step, 5), ("act", act, 5), ("update", update, 3)):
            gap = sum(cost for other, cost in hot.items() if other != name)
            costs[f"{name} aged"] = timed_after_gap(fn, gap, calls)
        costs["bare"] = timed(bare_step, 1, 5)
        return costs

    trainer = Trainer(config)
    records = []  # per chunk: (steps, training seconds, isolated costs after it, seconds the timing took)
    end_chunk = trainer._end_chunk

    def chunk_then_isolated(steps: int, elapsed: float) -> None:
        end_chunk(steps, elapsed)
        if trainer.step >= first:
            start = time.perf_counter()
            costs = isolated()
            records.append((steps, elapsed, costs, time.perf_counter() - start))

    trainer._end_chunk = chunk_then_isolated
    trainer.run()

    rows = []
    for (_, _, before, spent), (steps, elapsed, after, _) in zip(records, records[1:], strict=False):
        if steps != PUBLISH_EVERY:
            continue
        cost = {k: (before[k] + after[k]) / 2 for k in before}
        measured = steps / (elapsed - spent)
        ceiling = 1.0 / (cost["env_step"] + cost["act"] + cost["update"])
        aged = 1.0 / (cost["env_step aged"] + cost["act aged"] + cost["update aged"])
        rows.append(
            {
                "costs": cost,
                "ceiling": ceiling,
                "measured": measured,
                "efficiency": measured / ceiling,
                "aged_ceiling": aged,
                "aged_efficiency": measured / aged,
                "bare_efficiency": 1.0 / cost["bare"] / ceiling,
                "of_bare": measured * cost["bare"],
            }
        )

    def med(key):
        return statistics.median(r[key] for r in rows)

    ranked = sorted(r["efficiency"] for r in rows)
    return {
        "costs_us": {k: statistics.median(r["costs"][k] for r in rows) * 1e6 for k in rows[0]["costs"]},
        "ceiling": med("ceiling"),
        "measured": med("measured"),
        "efficiency": med("efficiency"),
        "quartiles": (ranked[len(ranked) // 4], ranked[3 * len(ranked) // 4]),
        "chunks": len(rows),
        "aged_ceiling": med("aged_ceiling"),
        "aged_efficiency": med("aged_efficiency"),
        "bare_efficiency": med("bare_efficiency"),
        "of_bare": med("of_bare"),
        "compute_path": trainer.agent.compute_path,
        "after_others_us": after_the_others(parts),
        "in_loop_us": in_loop_costs(config.replace("run", total_steps=first + 20_000)),
    }


def after_the_others(parts: dict, rounds: int = 200) -> dict:
    """Each part timed three ways, interleaved round by round: right after itself (hot, as the ceiling
    times it), right after a busy-wait as long as the other parts take (its caches aged by time
    alone), and right after the other parts themselves, in the loop's order. The last two differ by
    what the parts evict of each other's caches, which no isolated timing sees."""
    names = list(parts)
    hot = {name: timed(fn, 3, 10) for name, fn in parts.items()}
    samples = {name: {"hot": [], "aged": [], "after the others": []} for name in names}
    for _ in range(rounds):
        for i, name in enumerate(names):
            others = names[i + 1 :] + names[:i]  # in the loop's order, ending just before this part
            for _ in range(3):  # one call leaves the caches half warm, a few leave them as timed() finds them
                parts[name]()
            samples[name]["hot"].append(call_time(parts[name]))
            busy_wait(sum(hot[other] for other in others))
            samples[name]["aged"].append(call_time(parts[name]))
            for other in others:
                parts[other]()
            samples[name]["after the others"].append(call_time(parts[name]))
    return {
        name: {way: statistics.median(values) * 1e6 for way, values in ways.items()} for name, ways in samples.items()
    }


def in_loop_costs(config) -> dict:
    """The same three costs timed inside a real run (a separate one: the timers cost a little), the
    replay write and draw and the publishes, and what the rest of the loop (schedules, counters,
    control checks, target syncs, the timers themselves) costs per step."""
    from cockpit.engine.trainer import Trainer

    trainer = Trainer(config)
    spent = {"env_step": 0.0, "act": 0.0, "update": 0.0, "replay write": 0.0, "replay draw": 0.0, "publish": 0.0}

    def timing(name, fn):
        def timed_call(*args):
            start = time.perf_counter()
            result = fn(*args)
            spent[name] += time.perf_counter() - start
            return result

        return timed_call

    trainer.env.step = timing("env_step", trainer.env.step)
    trainer.agent.act = timing("act", trainer.agent.act)
    trainer.agent.update = timing("update", trainer.agent.update)
    trainer.buffer.add = timing("replay write", trainer.buffer.add)
    trainer.sampler.rows = timing("replay draw", trainer.sampler.rows)
    trainer._publish = timing("publish", trainer._publish)
    start = time.perf_counter()
    trainer.run()
    wall = time.perf_counter() - start - trainer._eval_time
    steps = trainer.step
    per_step = {k: v / steps * 1e6 for k, v in spent.items()}
    per_step["rest of the loop"] = wall / steps * 1e6 - sum(per_step.values())
    return per_step


def measure(cmd: list[str]) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True)
    result = json.loads(done.stdout)
    result["wall_s"] = time.perf_counter() - start
    if result["rc"] != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{result['err']}")
    return result


def run_cockpit(preset: Path, seed: int, total: int, out: Path) -> dict:
    run_dir = out / f"cockpit-s{seed}-{time.time_ns()}"
    r = measure(
        [
            str(ROOT / ".venv/bin/cockpit"),
            str(preset),
            "--no-ui",
            "--seed",
            str(seed),
            "--total-steps",
            str(total),
            "--run-dir",
            str(run_dir),
        ]
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    return {"sps": summary["train_steps_per_s"], "rss_mb": r["rss_mb"]}


def run_sb3(seed: int, total: int) -> dict:
    r = measure([str(PEERS_ENV / "sb3/bin/python"), str(PEERS_DIR / "sb3_dqn.py"), str(seed), "1", str(total)])
    line = json.loads(r["out"].strip().splitlines()[-1])
    return {"sps": line.get("train_sps") or line.get("steps_per_s"), "rss_mb": r["rss_mb"]}


def run_cleanrl(seed: int, total: int) -> dict:
    r = measure(["bash", str(PEERS_DIR / "cleanrl_dqn.sh"), str(CLEANRL), str(seed), str(total)])
    line = json.loads(r["out"].strip().splitlines()[-1])
    return {"sps": line["train_sps"], "rss_mb": r["rss_mb"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", type=Path, default=ROOT / "presets/cartpole.toml")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--total-steps", type=int, default=20_000)
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument(
        "--compute",
        choices=("fast", "autograd"),
        default="fast",
        help="the update's compute path for the loop efficiency (the peers' runs are not affected)",
    )
    args = parser.parse_args()

    eff = loop_efficiency(args.preset, overrides=(f"run.compute={args.compute}",))
    c = eff["costs_us"]
    print(
        f"loop ({eff['compute_path']}), medians over {eff['chunks']} chunks of 100 steps: env step {c['env_step']:.1f} µs "
        f"· act {c['act']:.1f} µs · update {c['update']:.1f} µs → ceiling {eff['ceiling']:,.0f} steps/s; trainer "
        f"{eff['measured']:,.0f} steps/s; per chunk against the ceiling timed beside it: {eff['efficiency']:.1%} "
        f"(target ≥ 90%; quartiles {eff['quartiles'][0]:.1%}, {eff['quartiles'][1]:.1%})"
    )
    print(
        f"the same parts, each timed right after busy-waiting (touching no memory) as long as the other two take, "
        f"its caches aged as in a step: env step {c['env_step aged']:.1f} µs · act {c['act aged']:.1f} µs · update "
        f"{c['update aged']:.1f} µs → ceiling {eff['aged_ceiling']:,.0f} steps/s; trainer {eff['aged_efficiency']:.1%} "
        f"of it: what the loop loses beyond the caches' decay with time"
    )
    print(
        f"a bare loop (act, env step, replay write, sample, update; nothing else): {eff['bare_efficiency']:.1%} of the "
        f"ceiling; the trainer: {eff['of_bare']:.1%} of the bare loop"
    )
    after = eff["after_others_us"]
    print(
        "each part right after itself · after a busy-wait as long as the other parts · after the other parts: "
        + " · ".join(
            f"{name} {w['hot']:.1f} / {w['aged']:.1f} / {w['after the others']:.1f} µs" for name, w in after.items()
        )
    )
    total = {way: sum(w[way] for w in after.values()) for way in ("hot", "aged", "after the others")}
    print(
        f"the hot parts' sum against the same parts aged by time alone: {total['hot'] / total['aged']:.1%}; "
        f"against the parts run after each other: {total['hot'] / total['after the others']:.1%} (measured "
        f"together, after the loop; what the loop loses to the parts evicting each other's caches)"
    )
    print(
        "inside a run, per env step (whole run, warm-up included): "
        + " · ".join(f"{name} {us:.1f} µs" for name, us in eff["in_loop_us"].items())
    )
    if args.skip_peers:
        return 0
    runners = [
        ("cockpit", lambda s: run_cockpit(args.preset, s, args.total_steps, out)),
        ("sb3", lambda s: run_sb3(s, args.total_steps)),
        ("cleanrl", lambda s: run_cleanrl(s, args.total_steps)),
    ]
    ratios = {"sb3": [], "cleanrl": []}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for rnd in range(args.rounds):
            order = runners[rnd % 3 :] + runners[: rnd % 3]
            results = {name: run(1 + rnd) for name, run in order}
            for peer in ratios:
                ratios[peer].append(results["cockpit"]["sps"] / results[peer]["sps"])
            print(
                f"round {rnd + 1} ({' → '.join(n for n, _ in order)}): "
                + " · ".join(f"{n} {r['sps']:,.0f} steps/s, peak RSS {r['rss_mb']:.0f} MB" for n, r in results.items())
            )
    sb3, cleanrl = statistics.median(ratios["sb3"]), statistics.median(ratios["cleanrl"])
    print(
        f"cockpit / SB3 = {sb3:.2f}x (target ≥ 2) · cockpit / CleanRL = {cleanrl:.2f}x (target ≥ 1.5) "
        f"· per round: SB3 {', '.join(f'{x:.2f}' for x in ratios['sb3'])}; "
        f"CleanRL {', '.join(f'{x:.2f}' for x in ratios['cleanrl'])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
