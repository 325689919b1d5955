"""The first two rungs of `cockpit check`: the reward signal and the environment, judged from the
random rollouts and the probes of probes.py (thresholds in checks.py's docstring)."""

from __future__ import annotations

import numpy as np

from cockpit.engine import probes
from cockpit.engine.check_results import ENV, FAIL, OK, REWARD, WARN, CheckResult, action_label, g
from cockpit.engine.config import Config
from cockpit.engine.envs import EnvInfo

LARGE_REWARD = 100.0
LARGE_OBS = 10.0
SCALE_RATIO = 100.0


# ------------------------------------------------------------------ 1. reward signal
def reward_checks(r: probes.Rollouts) -> list[CheckResult]:
    rewards = np.concatenate(r.rewards) if r.rewards else np.zeros(0)
    returns = np.array([ep.sum() for ep in r.rewards])
    where = f"over {len(rewards):,} random steps"
    if not len(rewards):
        return [CheckResult(REWARD, "per-step reward", FAIL, "no step was taken", "reset() or step() never returned")]
    finite = np.isfinite(rewards)
    if not finite.all():
        per_step = CheckResult(
            REWARD,
            "per-step reward",
            FAIL,
            f"{(~finite).sum()} of {len(rewards):,} rewards are NaN or inf",
            "step() must return a finite float reward",
        )
        return [per_step]
    figure = f"min {g(rewards.min())} · max {g(rewards.max())} · mean {g(rewards.mean())} {where}"
    if np.abs(rewards).max() > LARGE_REWARD:
        per_step = CheckResult(
            REWARD,
            "per-step reward",
            WARN,
            figure,
            f"rewards beyond ±{LARGE_REWARD:g} give huge TD errors: scale the reward or set env.clip_reward",
        )
    else:
        per_step = CheckResult(REWARD, "per-step reward", OK, figure)
    spread = np.percentile(returns, [0, 50, 100])
    distribution = CheckResult(
        REWARD,
        "episode returns",
        OK,
        f"min {g(spread[0])} · median {g(spread[1])} · max {g(spread[2])} over {len(returns)} random episodes",
    )
    return [per_step, distribution, _terminal_reward(r, rewards), _constant_reward(r, rewards)]


def _terminal_reward(r: probes.Rollouts, rewards: np.ndarray) -> CheckResult:
    name = "terminal-step reward"
    if not r.terminal_rewards:
        return CheckResult(REWARD, name, OK, "no random episode terminated (all truncated or cut): nothing to compare")
    terminal = float(np.mean(r.terminal_rewards))
    others = np.concatenate([ep[:-1] for ep in r.rewards]) if r.rewards else np.zeros(0)
    other = float(others.mean()) if len(others) else terminal
    figure = f"{g(terminal)} on the terminal step of {len(r.terminal_rewards)} episodes, {g(other)} on other steps"
    if rewards.max() <= 0 and other < 0 and terminal >= other:
        return CheckResult(
            REWARD,
            name,
            WARN,
            figure + ": every step costs and ending the episode stops the cost",
            "the agent will learn to end episodes as early as it can; if ending is a failure "
            "(falling, crashing), the reward has the wrong sign: reward staying alive or penalize termination; "
            "if ending is the goal, this is as intended",
        )
    return CheckResult(REWARD, name, OK, figure)


def _constant_reward(r: probes.Rollouts, rewards: np.ndarray) -> CheckResult:
    name = "reward varies"
    distinct = np.unique(rewards)
    if len(distinct) > 1:
        shown = ", ".join(g(v) for v in distinct[:5]) + (", …" if len(distinct) > 5 else "")
        return CheckResult(REWARD, name, OK, f"{len(distinct)} distinct values ({shown})")
    value = float(distinct[0])
    if value == 0:
        return CheckResult(
            REWARD,
            name,
            FAIL,
            f"0 on every one of {len(rewards):,} random steps",
            "step() must return the reward; if it is sparse, random play never finds it: "
            "shape it, or start episodes closer to the goal",
        )
    if r.terminated == 0:
        return CheckResult(
            REWARD,
            name,
            WARN,
            f"constant {g(value)} and no random episode terminated: random play sees no signal",
            "if the goal is hard to reach, expect a slow start or shape the reward; "
            "if episodes never terminate, the return cannot depend on the policy",
        )
    return CheckResult(
        REWARD,
        name,
        OK,
        f"constant {g(value)} per step; the signal is when episodes end "
        f"({r.terminated} of {len(r.rewards)} terminated)",
    )


# ------------------------------------------------------------------ 2. environment
def environment_checks(config: Config, r: probes.Rollouts, info: EnvInfo) -> list[CheckResult]:
    checker = probes.gymnasium_checker(config)
    results = [_checker_result(checker)] if checker.error is None and not checker.warnings else []
    results += [
        CheckResult(ENV, "gymnasium check_env", WARN, w, "see Gymnasium's env_checker") for w in checker.warnings
    ]
    if checker.error:
        results.append(
            CheckResult(
                ENV,
                "gymnasium check_env",
                FAIL,
                checker.error,
                "fix what check_env names: it calls reset() and step() as Gymnasium's API requires",
            )
        )
    results += [_in_space(r), _image_ranges(r.images) if r.images else _ranges(config, r)]
    behaviour = probes.behaviour_probe(config)
    results += [_action_effect(behaviour, info, r.images is not None), _seeding(behaviour), *_episodes(r, info)]
    return results


def _checker_result(checker: probes.CheckerReport) -> CheckResult:
    figure = "passed: spaces, reset/step API, seeding, step determinism"
    if checker.notes:
        figure += " (its note on unbounded Box dimensions does not matter to an MLP: see the observed ranges)"
    return CheckResult(ENV, "gymnasium check_env", OK, figure)


def _in_space(r: probes.Rollouts) -> CheckResult:
    name = "observations in space"
    total = r.images.seen if r.images else len(r.observations)
    if r.outside_count:
        return CheckResult(
            ENV,
            name,
            FAIL,
            f"{r.outside_count:,} of {total:,} outside {r.space}, e.g. {r.first_outside}",
            "declare the observation_space that step() really returns, or clip/scale the observation",
        )
    return CheckResult(ENV, name, OK, f"all {total:,} within the declared {r.space.partition('(')[0]}")


def _ranges(config: Config, r: probes.Rollouts) -> CheckResult:
    name = "observation ranges"
    if not r.box:
        return CheckResult(ENV, name, OK, f"{r.space}: one-hot encoded for the network")
    low, high = r.observations.min(axis=0), r.observations.max(axis=0)
    dims = [f"x{i} [{g(lo)}, {g(hi)}]" for i, (lo, hi) in enumerate(zip(low, high, strict=False))]
    figure = " · ".join(dims[:8]) + (f" · … ({len(dims) - 8} more)" if len(dims) > 8 else "")
    scale = np.maximum(np.abs(low), np.abs(high))
    large = np.flatnonzero(scale > LARGE_OBS)
    varying = scale[scale > 0]
    ratio = varying.max() / varying.min() if len(varying) else 1.0
    if config.env.normalize_obs or (not len(large) and ratio <= SCALE_RATIO):
        return CheckResult(ENV, name, OK, figure + (" (normalized by the run)" if config.env.normalize_obs else ""))
    why = f"x{', x'.join(map(str, large))} reach |x| > {LARGE_OBS:g}" if len(large) else f"scales differ {ratio:.0f}×"
    return CheckResult(
        ENV, name, WARN, f"{figure}: {why}", "unnormalized inputs slow learning: set env.normalize_obs = true"
    )


def _image_ranges(images: probes.ImageStats) -> CheckResult:
    """An image's pixels as a whole: their range, and how much of the picture moves from step to step."""
    name = "observation ranges"
    figure = (
        f"pixels [{images.low}, {images.high}] in {images.shape} images (the network scales them to [0, 1]) · "
        f"{images.mean_changed:.1%} of pixels change per step, {images.ever_changed:.0%} at some step "
        f"over {images.steps:,} random steps"
    )
    if images.low == images.high:
        return CheckResult(
            ENV, name, FAIL, figure + ": every pixel of every image is the same", "check what step() returns"
        )
    if not images.steps or images.ever is None or not images.ever.any():
        return CheckResult(
            ENV,
            name,
            WARN,
            figure + ": no pixel changed in any step",
            "the image never shows what happens: check what step() returns",
        )
    return CheckResult(ENV, name, OK, figure)


def _action_effect(b: probes.Behaviour, info: EnvInfo, image: bool = False) -> CheckResult:
    name = "actions change the state"
    state = "frame" if image else "state"
    where = f"{b.probes} probed states"
    if not b.deterministic:
        return CheckResult(
            ENV,
            name,
            WARN,
            "cannot tell: the same action from the same seeded state led to different states",
            "make reset(seed) and step() draw only from self.np_random (see seeded resets)",
        )
    same = [(a, c) for a in range(b.n_actions) for c in range(a + 1, b.n_actions) if b.same_effect[a, c]]
    if b.n_actions > 1 and len(same) == b.n_actions * (b.n_actions - 1) // 2:
        return CheckResult(
            ENV,
            name,
            FAIL,
            f"no action changed the next {state} differently from the others in {where}",
            "step() ignores its action: check how the action index maps to an effect",
        )
    if same:
        pairs = ", ".join(f"{action_label(a, info)}={action_label(c, info)}" for a, c in same[:6])
        return CheckResult(
            ENV,
            name,
            WARN,
            f"actions with the same effect in all {where}: {pairs}",
            "if these actions should differ, check how step() uses them",
        )
    return CheckResult(ENV, name, OK, f"each of the {b.n_actions} actions leads to a different next {state} in {where}")


def _seeding(b: probes.Behaviour) -> CheckResult:
    name = "seeded resets"
    if not b.reset_reproducible:
        return CheckResult(
            ENV,
            name,
            FAIL,
            "reset(seed=...) twice gave different observations: the env ignores its seed",
            "pass the seed to super().reset(seed=seed) and draw every random number from self.np_random",
        )
    if b.diverged_at is not None:
        return CheckResult(
            ENV,
            name,
            WARN,
            f"reset(seed) reproduces, but the same actions diverged at step {b.diverged_at}",
            "draw the transitions' randomness from self.np_random so that runs reproduce",
        )
    return CheckResult(
        ENV, name, OK, f"reset(seed) twice and the same {b.replayed} actions gave identical observations"
    )


def _episodes(r: probes.Rollouts, info: EnvInfo) -> list[CheckResult]:
    lengths = np.array(r.lengths)
    limit = f"time limit {info.time_limit:,}" if info.time_limit else "no time limit"
    figure = f"min {lengths.min()} · median {np.median(lengths):g} · max {lengths.max()} steps over {len(lengths)} random episodes"
    cut = len(lengths) - r.terminated - r.truncated
    if cut:
        length = CheckResult(
            ENV,
            "episode lengths",
            WARN,
            f"{figure}: {cut} did not end within {probes.EPISODE_CAP:,} steps",
            "set env.max_episode_steps so that episodes end",
        )
    elif np.median(lengths) <= 2:
        length = CheckResult(
            ENV, "episode lengths", WARN, f"{figure}: episodes end almost at once", "check the termination condition"
        )
    else:
        length = CheckResult(ENV, "episode lengths", OK, figure)
    ends = f"{r.terminated} terminated · {r.truncated} truncated ({limit})"
    if r.terminated == len(lengths) > 1 and lengths.min() == lengths.max() > 1 and not _end_is_rewarded(r):
        ending = CheckResult(
            ENV,
            "terminations vs truncations",
            WARN,
            f"{ends}: every episode terminated after exactly {lengths[0]} steps",
            "a time limit must return truncated=True, not terminated: DQN treats a terminal state as worth 0",
        )
    else:
        ending = CheckResult(ENV, "terminations vs truncations", OK, ends)
    return [length, ending]


def _end_is_rewarded(r: probes.Rollouts) -> bool:
    """Whether the last step pays differently from the others: an end that is an event of the game
    (catch's ball landing), not a time limit reported as termination."""
    others = {float(x) for ep in r.rewards for x in ep[:-1]}
    return bool(r.terminal_rewards) and not set(r.terminal_rewards) <= others
