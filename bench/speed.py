"""Training speed against the peers, loop efficiency, and peak memory, measured side by side.

    .venv/bin/python bench/speed.py [--rounds 2] [--total-steps 20000] [--skip-peers]

1. Loop efficiency, in this process: the time of one CartPole env step, one greedy action and one
   update of the preset's network with the drawing of its replay sample, as the trainer draws it
   (each the median of several timed batches), and the ceiling they allow,
   1 / (env step + action + update); then the trainer's own steps/s once epsilon has reached
   its end (every step acts greedily and updates), in segments between which the isolated costs
   are timed again. Target: at least 90% of the ceiling. Beside it, the same three costs each timed
   right after a busy-wait as long as the other two take, which touches no memory: on a shared
   machine a part's caches decay in that time whatever runs, and the trainer's steps/s against that
   ceiling is what the loop itself loses.
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


def timed_after_gap(fn, gap_s: float, calls: int = 60) -> float:
    """Median seconds of one call made right after `gap_s` of busy-waiting that touches no memory:
    the call's cost when its caches have aged as long as the rest of a step lasts, with nothing of
    ours running meanwhile. On a shared machine they age anyway (other tenants evict them), and an
    isolated figure, timed with its caches hot, hides that."""
    fn()
    samples = []
    for _ in range(calls):
        end = time.perf_counter() + gap_s
        while time.perf_counter() < end:
            pass
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def loop_efficiency(preset: Path, segments: int = 60, segment_steps: int = 300) -> dict:
    """The trainer runs in a thread, paused through its control surface between segments of steps;
    at each pause the three costs are timed in isolation, so every segment's steps/s is compared with
    the ceiling measured just before and just after it (the machine's speed drifts by more than the
    margin being measured; short segments and the median over many keep the drift out of the ratio).

    A segment's steps/s comes from the trainer's own 100-step chunks (the training time it measures
    and publishes as steps/s) that lie wholly inside the segment. The chunk a pause falls in is left
    out: a pause lands mid-chunk, so counting whole segments mixes a part-chunk's steps with another
    part's time (that spread single segments over 44-105%), and the steps right after a pause start
    with the caches the isolated timings left, which a run that is not paused never sees. The figure
    over whole segments is reported beside it."""
    import threading

    import numpy as np
    import torch

    from cockpit.engine.agent import flush_denormals
    from cockpit.engine.config import load_preset
    from cockpit.engine.envs import make_env
    from cockpit.engine.trainer import Trainer

    first = 10_500  # epsilon has reached its end by then: every step acts greedily and updates
    total = first + segments * segment_steps
    # Room for segments longer than planned: the run must outlast the last pause.
    config = load_preset(preset, [f"run.total_steps={first + 2 * segments * segment_steps}", "run.eval_freq=1000000"])
    torch.set_num_threads(config.run.threads)
    scratch = Trainer(config)  # its network and buffer are timed in isolation, beside the real run
    flush_denormals()  # the arithmetic mode of the trainer's loop thread, in this one too
    env = make_env(config.env)
    env.reset(seed=0)
    rng = np.random.default_rng(0)

    def env_step():
        _, _, terminated, truncated, _ = env.step(int(rng.integers(2)))
        if terminated or truncated:
            env.reset()

    obs = env.observation_space.sample()
    for _ in range(config.dqn.buffer_size):  # full, as in the measured segments
        scratch.buffer.add(obs, obs, int(rng.integers(2)), 1.0, False)
    update = lambda: scratch.agent.update(scratch.sampler.rows(config.dqn.batch_size), scratch.info.obs_dim, config.dqn)

    act = lambda: scratch.agent.act(obs)

    def isolated() -> dict:
        costs = {"env_step": timed(env_step, 5, 200), "act": timed(act, 5, 200), "update": timed(update, 5, 40)}
        # The same three, each after a busy-wait as long as the other two take (see timed_after_gap).
        for name, fn in (("env_step", env_step), ("act", act), ("update", update)):
            rest = sum(cost for other, cost in costs.items() if other != name and not other.endswith(" aged"))
            costs[f"{name} aged"] = timed_after_gap(fn, rest, 60 if name != "update" else 20)
        return costs

    # A loop made of nothing else: act, env step, replay write, sample and update in turn. What it
    # loses against the isolated costs is the machine's (each part runs with the caches the others
    # left); what the trainer loses against it is the trainer's own.
    bare_env, agent, buffer, sampler, dqn = make_env(config.env), scratch.agent, scratch.buffer, scratch.sampler, config.dqn
    bare_obs = [bare_env.reset(seed=1)[0]]

    def bare_step():
        o = bare_obs[0]
        action = agent.act(o)
        next_o, reward, terminated, truncated, _ = bare_env.step(action)
        buffer.add(o, next_o, action, reward, terminated)
        agent.update(sampler.rows(dqn.batch_size), scratch.info.obs_dim, dqn)
        bare_obs[0] = bare_env.reset()[0] if terminated or truncated else next_o

    trainer = Trainer(config)
    chunks = []  # (last step, steps, training seconds) of each chunk, as the trainer times it
    end_chunk = trainer._end_chunk

    def recorded(steps: int, elapsed: float) -> None:
        chunks.append((trainer.step, steps, elapsed))
        end_chunk(steps, elapsed)

    trainer._end_chunk = recorded
    thread = threading.Thread(target=trainer.run)
    thread.start()
    pauses = []  # (step, training seconds so far, isolated costs, bare loop)
    while trainer.step < first:
        time.sleep(0.05)
    rate = 1500.0
    for _ in range(segments + 1):
        if pauses:
            # One wake-up per segment, timed from the last segment's speed: every wake-up of this
            # thread takes the GIL from the trainer. Segments vary in length; their own steps count.
            time.sleep(segment_steps / rate)
        answer = trainer.control.pause().result()
        if pauses and answer["step"] > pauses[-1][0]:
            rate = (answer["step"] - pauses[-1][0]) / max(trainer._train_time - pauses[-1][1], 1e-6)
        pauses.append((answer["step"], trainer._train_time, isolated(), timed(bare_step, 3, 50)))
        trainer.control.resume().result()
    trainer.control.stop()
    thread.join()

    rows = []
    for (step0, time0, costs0, bare0), (step1, time1, costs1, bare1) in zip(pauses, pauses[1:]):
        costs = {k: (costs0[k] + costs1[k]) / 2 for k in costs0}
        ceiling = 1.0 / sum(v for k, v in costs.items() if not k.endswith(" aged"))
        aged_ceiling = 1.0 / sum(v for k, v in costs.items() if k.endswith(" aged"))
        inside = [(steps, elapsed) for end, steps, elapsed in chunks if end - steps >= step0 and end <= step1]
        if not inside:
            continue
        measured = sum(steps for steps, _ in inside) / sum(elapsed for _, elapsed in inside)
        whole = (step1 - step0) / (time1 - time0)
        bare = 2.0 / (bare0 + bare1)
        rows.append({"costs": costs, "ceiling": ceiling, "measured": measured, "efficiency": measured / ceiling,
                     "aged_ceiling": aged_ceiling, "aged_efficiency": measured / aged_ceiling,
                     "whole_segment": whole / ceiling, "bare_efficiency": bare / ceiling, "of_bare": measured / bare})
    ranked = sorted(rows, key=lambda r: r["efficiency"])
    median = ranked[len(rows) // 2]
    return {"costs_us": {k: v * 1e6 for k, v in median["costs"].items()}, "ceiling": median["ceiling"],
            "measured": median["measured"], "efficiency": median["efficiency"],
            "quartiles": (ranked[len(rows) // 4]["efficiency"], ranked[3 * len(rows) // 4]["efficiency"]),
            "whole_segments": statistics.median(r["whole_segment"] for r in rows),
            "bare_efficiency": statistics.median(r["bare_efficiency"] for r in rows),
            "aged_ceiling": statistics.median(r["aged_ceiling"] for r in rows),
            "aged_efficiency": statistics.median(r["aged_efficiency"] for r in rows),
            "of_bare": statistics.median(r["of_bare"] for r in rows),
            "per_segment": [r["efficiency"] for r in rows], "compute_path": trainer.agent.compute_path,
            "in_loop_us": in_loop_costs(config.replace("run", total_steps=total + 1000))}


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
    r = measure([str(ROOT / ".venv/bin/cockpit"), str(preset), "--no-ui", "--seed", str(seed),
                 "--total-steps", str(total), "--run-dir", str(run_dir)])
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
    args = parser.parse_args()

    eff = loop_efficiency(args.preset)
    c = eff["costs_us"]
    print(f"loop ({eff['compute_path']}), median segment: env step {c['env_step']:.1f} µs · act {c['act']:.1f} µs "
          f"· update {c['update']:.1f} µs → ceiling {eff['ceiling']:,.0f} steps/s; trainer "
          f"{eff['measured']:,.0f} steps/s = {eff['efficiency']:.1%} of the ceiling (target ≥ 90%; quartiles of the "
          f"{len(eff['per_segment'])} segments {eff['quartiles'][0]:.1%}, {eff['quartiles'][1]:.1%}; counting whole "
          f"segments, pauses' chunks included: {eff['whole_segments']:.1%}); per segment: "
          + ", ".join(f"{e:.1%}" for e in eff["per_segment"]))
    print(f"the same parts, each timed right after busy-waiting (touching no memory) as long as the other two take, "
          f"its caches aged as in a step: env step {c['env_step aged']:.1f} µs · act {c['act aged']:.1f} µs · update "
          f"{c['update aged']:.1f} µs → ceiling {eff['aged_ceiling']:,.0f} steps/s; trainer {eff['aged_efficiency']:.1%} "
          f"of it (median segment): what the machine's own cache decay leaves for the loop to lose")
    print(f"a bare loop (act, env step, replay write, sample, update; nothing else): {eff['bare_efficiency']:.1%} of the "
          f"ceiling (median segment); the trainer: {eff['of_bare']:.1%} of the bare loop")
    print("inside a run, per env step (whole run, warm-up included): " + " · ".join(
        f"{name} {us:.1f} µs" for name, us in eff["in_loop_us"].items()))
    if args.skip_peers:
        return 0
    runners = [("cockpit", lambda s: run_cockpit(args.preset, s, args.total_steps, out)),
               ("sb3", lambda s: run_sb3(s, args.total_steps)), ("cleanrl", lambda s: run_cleanrl(s, args.total_steps))]
    ratios = {"sb3": [], "cleanrl": []}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for rnd in range(args.rounds):
            order = runners[rnd % 3:] + runners[: rnd % 3]
            results = {name: run(1 + rnd) for name, run in order}
            for peer in ratios:
                ratios[peer].append(results["cockpit"]["sps"] / results[peer]["sps"])
            print(f"round {rnd + 1} ({' → '.join(n for n, _ in order)}): " + " · ".join(
                f"{n} {r['sps']:,.0f} steps/s, peak RSS {r['rss_mb']:.0f} MB" for n, r in results.items()))
    sb3, cleanrl = statistics.median(ratios["sb3"]), statistics.median(ratios["cleanrl"])
    print(f"cockpit / SB3 = {sb3:.2f}x (target ≥ 2) · cockpit / CleanRL = {cleanrl:.2f}x (target ≥ 1.5) "
          f"· per round: SB3 {', '.join(f'{x:.2f}' for x in ratios['sb3'])}; "
          f"CleanRL {', '.join(f'{x:.2f}' for x in ratios['cleanrl'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
