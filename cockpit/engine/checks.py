"""Pre-flight checks of a preset, walking the debugging hierarchy from the bottom (`cockpit check`):
reward signal, environment, learning basics, exploration, hyperparameters.

Each check measures something on the preset's own env and settings and returns `CheckResult`s:
`ok`, `warn` (worth a look, may be intended) or `fail` (a run will not learn as configured).
Every stream is derived from the preset's seed, so a preset always gets the same figures. The
measurements themselves live in `cockpit.engine.probes`; this module judges them.

Thresholds, and why:
- Rollouts: 20 random-policy episodes, each cut after 2,000 steps.
- Reward: fail on non-finite rewards and on a reward that is 0 on every random step (nothing to
  learn, or too sparse for random exploration to find). A constant reward with terminations is a
  survival or shortest-path task and passes; without any termination in random play it warns
  (every random episode earns the same return: Acrobot's -1 per step until its rare goal). Warn
  when |r| exceeds 100 (TD errors that large swamp the Huber loss), and when every step costs
  (r ≤ 0) while the terminal step costs no less than the others: ending the episode early is
  then the best the agent can do.
- Gymnasium's `check_env`: each warning is a ⚠, an exception a ✗; its notes on infinite Box
  bounds are not, since an MLP takes observations as they come and the observed ranges are what
  matter. Observations: fail when any leaves the declared space; warn when a dimension reaches
  |x| > 10 or the dimensions' scales differ more than 100×, unless env.normalize_obs is on
  (CartPole stays within ±4 and passes). Images are summarised instead: their pixel range and the
  share of pixels that change between steps; fail when every pixel is the same, warn when none
  ever changes.
- Actions: fail when no action changes the next state in any of 5 probed states (each replayed
  from a seeded reset), warn when two actions never differ (named by the game's action meanings
  where it has them: Pong's FIRE does what NOOP does). Seeding: fail when `reset(seed)` twice
  gives different observations, warn when the same actions then diverge.
- Episodes: warn when episodes outlast the 2,000-step cap, when the median lasts 2 steps or
  fewer, and when every episode terminates after exactly the same number of steps with a last
  step that pays like the others (a time limit reported as termination, not a game's end).
- Learning: memorizing one transition must reach a loss below 1e-4 within 1,000 Adam steps at
  lr 1e-3 (a test of the wiring, apart from the preset's rate); every layer's gradient must be
  non-zero and finite; 200 updates with the preset's settings on one fixed batch must halve the
  TD loss (warn when they only lower it, fail when they do not).
- Exploration: fail when epsilon_decay exceeds total_steps, warn when the decay takes more than
  half the run or ends within warm-up; in a 2,000-step pass through the run's schedule (an
  untrained network as the greedy policy: the worst case), fail when an action is never taken,
  warn when one is under 2 % of a uniform policy's share (1 % of two actions, 0.33 % of Pong's
  six: ε = 0.01 spread over six actions gives each about 0.17 %), warn when a dimension of the
  observation never changes (of an image: when no pixel does).
- Hyperparameters: warn outside the usual ranges (lr 1e-5–1e-3, hidden 64–256, batch 32–256,
  γ 0.9–0.999); fail for a learning rate 10× outside them; warn when warm-up exceeds the buffer
  or the target network syncs fewer than 10 times; fail when the Q bound is infinite.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from cockpit.engine import probes
from cockpit.engine.config import Config, ConfigError
from cockpit.engine.envs import EnvInfo, describe_exception, inspect_env, q_bound
from cockpit.engine.frame_buffer import replay_bytes
from cockpit.engine.networks import NATURE_HIDDEN
from cockpit.engine.observations import choose_network

SECTIONS = ("Reward signal", "Environment", "Learning basics", "Exploration", "Hyperparameters")
REWARD, ENV, LEARNING, EXPLORATION, HYPER = SECTIONS
OK, WARN, FAIL = "ok", "warn", "fail"

LARGE_REWARD = 100.0
LARGE_OBS = 10.0
SCALE_RATIO = 100.0
RARE_ACTION = 0.02
"""An action is rare under this fraction of a uniform policy's share, 1/n of the steps."""
MIN_TARGET_SYNCS = 10
USUAL = {"learning_rate": (1e-5, 1e-3), "hidden_size": (64, 256), "batch_size": (32, 256), "gamma": (0.9, 0.999)}
"""The ranges DQN presets usually sit in (CleanRL's, SB3's and rl-zoo's classic-control settings)."""


@dataclass(frozen=True)
class CheckResult:
    section: str
    name: str
    status: str
    """`ok`, `warn` or `fail`."""
    figure: str
    """What was measured, one line."""
    advice: str = ""
    """What to do, where the check did not pass."""


def run_checks(config: Config) -> list[CheckResult]:
    """Every check on the preset, in the order of SECTIONS; raises ConfigError for an env that cannot be made."""
    info = inspect_env(config.env)
    choose_network(config.dqn.network, info.obs_shape or (info.obs_dim,))  # a network that does not fit is bad input
    probes.set_threads(config.run.threads)
    try:
        rollouts = probes.random_rollouts(config)
    except (Exception, SystemExit) as e:  # the user's env raised: say where, and skip what needs it to run
        return [_raised(REWARD, e), *hyperparameter_checks(config, info)]
    return [
        *reward_checks(rollouts),
        *environment_checks(config, rollouts, info),
        *_guarded(LEARNING, lambda: learning_checks(probes.learning_probe(config, info))),
        *_guarded(EXPLORATION, lambda: exploration_checks(config, probes.exploration_pass(config, info), info)),
        *hyperparameter_checks(config, info),
    ]


def _raised(section: str, error: BaseException) -> CheckResult:
    if isinstance(error, ConfigError) and error.__cause__ is not None:  # refused for what the env raised: show that
        error = error.__cause__
    return CheckResult(
        section,
        "the environment runs",
        FAIL,
        describe_exception(error),
        "fix the environment: the checks after this one need it to run",
    )


def _guarded(section: str, checks) -> list[CheckResult]:
    try:
        return checks()
    except (Exception, SystemExit) as e:
        return [_raised(section, e)]


def _g(x: float) -> str:
    return f"{x:.3g}"


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
    figure = f"min {_g(rewards.min())} · max {_g(rewards.max())} · mean {_g(rewards.mean())} {where}"
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
        f"min {_g(spread[0])} · median {_g(spread[1])} · max {_g(spread[2])} over {len(returns)} random episodes",
    )
    return [per_step, distribution, _terminal_reward(r, rewards), _constant_reward(r, rewards)]


def _terminal_reward(r: probes.Rollouts, rewards: np.ndarray) -> CheckResult:
    name = "terminal-step reward"
    if not r.terminal_rewards:
        return CheckResult(REWARD, name, OK, "no random episode terminated (all truncated or cut): nothing to compare")
    terminal = float(np.mean(r.terminal_rewards))
    others = np.concatenate([ep[:-1] for ep in r.rewards]) if r.rewards else np.zeros(0)
    other = float(others.mean()) if len(others) else terminal
    figure = f"{_g(terminal)} on the terminal step of {len(r.terminal_rewards)} episodes, {_g(other)} on other steps"
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
        shown = ", ".join(_g(v) for v in distinct[:5]) + (", …" if len(distinct) > 5 else "")
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
            f"constant {_g(value)} and no random episode terminated: random play sees no signal",
            "if the goal is hard to reach, expect a slow start or shape the reward; "
            "if episodes never terminate, the return cannot depend on the policy",
        )
    return CheckResult(
        REWARD,
        name,
        OK,
        f"constant {_g(value)} per step; the signal is when episodes end "
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
    dims = [f"x{i} [{_g(lo)}, {_g(hi)}]" for i, (lo, hi) in enumerate(zip(low, high, strict=False))]
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


def _action_label(action: int, info: EnvInfo) -> str:
    return info.action_meanings[action] if action < len(info.action_meanings) else str(action)


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
        pairs = ", ".join(f"{_action_label(a, info)}={_action_label(c, info)}" for a, c in same[:6])
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


# ------------------------------------------------------------------ 3. learning basics
def learning_checks(p: probes.LearningReport) -> list[CheckResult]:
    if p.memorized_loss < probes.MEMORIZE_TARGET:
        memorize = CheckResult(
            LEARNING,
            "memorize one transition",
            OK,
            f"loss {p.memorized_loss:.1e} after {p.memorize_steps} steps (Adam, lr {probes.MEMORIZE_LR:g})",
        )
    else:
        memorize = CheckResult(
            LEARNING,
            "memorize one transition",
            FAIL,
            f"loss still {p.memorized_loss:.1e} after {p.memorize_steps} steps (Adam, lr {probes.MEMORIZE_LR:g})",
            "the network cannot fit one target: check the observation values and the TD update",
        )
    norms = " · ".join(f"{n:.1e}" for n in p.grad_norms)
    dead = [i + 1 for i, n in enumerate(p.grad_norms) if not np.isfinite(n) or n == 0]
    if dead:
        gradients = CheckResult(
            LEARNING,
            "gradients reach every layer",
            FAIL,
            f"layer {', '.join(map(str, dead))} of {len(p.grad_norms)}: zero or non-finite gradient ({norms})",
            "check the observations for NaN/huge values and the network's wiring",
        )
    else:
        gradients = CheckResult(
            LEARNING, "gradients reach every layer", OK, f"weight-gradient norms per layer: {norms}"
        )
    figure = (
        f"TD loss {p.loss_before:.3g} → {p.loss_after:.3g} in {probes.BURST_UPDATES} updates"
        f" on one batch of {p.batch_size} (lr {_g(p.learning_rate)})"
    )
    rose = not np.isfinite(p.loss_after) or p.loss_after >= p.loss_before
    if rose:
        advice = f"the update does not fit even a fixed batch: lower dqn.learning_rate (now {_g(p.learning_rate)})"
    else:
        advice = (
            f"the update barely fits a fixed batch: raise dqn.learning_rate (now {_g(p.learning_rate)}), "
            "or scale the rewards if they are large"
        )
    if rose:
        burst = CheckResult(LEARNING, "training burst lowers the loss", FAIL, figure, advice)
    elif p.loss_after > p.loss_before / 2:
        burst = CheckResult(LEARNING, "training burst lowers the loss", WARN, figure + ": less than halved", advice)
    else:
        burst = CheckResult(LEARNING, "training burst lowers the loss", OK, figure)
    return [memorize, gradients, burst]


# ------------------------------------------------------------------ 4. exploration
def exploration_checks(config: Config, e: probes.ExplorationReport, info: EnvInfo) -> list[CheckResult]:
    d, total = config.dqn, config.run.total_steps
    figure = (
        f"ε {_g(d.epsilon_start)} → {_g(d.epsilon_end)} over {d.epsilon_decay:,} steps = "
        f"{d.epsilon_decay / total:.0%} of the {total:,}-step run (warm-up {d.warmup_steps:,})"
    )
    if d.epsilon_decay > total:
        final = d.epsilon_start + (d.epsilon_end - d.epsilon_start) * total / d.epsilon_decay
        schedule = CheckResult(
            EXPLORATION,
            "epsilon schedule",
            FAIL,
            f"{figure}: ε is still {final:.2f} when the run ends",
            "set dqn.epsilon_decay below run.total_steps (usually 10–50% of it)",
        )
    elif d.epsilon_decay > total / 2:
        schedule = CheckResult(
            EXPLORATION,
            "epsilon schedule",
            WARN,
            figure + ": most of the run explores",
            "a decay over 10–50% of the run leaves time to exploit what was learned",
        )
    elif d.epsilon_decay <= d.warmup_steps:
        schedule = CheckResult(
            EXPLORATION,
            "epsilon schedule",
            WARN,
            figure + ": ε reaches its end during warm-up",
            "warm-up acts randomly anyway: make dqn.epsilon_decay longer than dqn.warmup_steps",
        )
    else:
        schedule = CheckResult(EXPLORATION, "epsilon schedule", OK, figure)
    return [schedule, _action_histogram(e, info), _image_coverage(e.images) if e.images else _coverage(e)]


def _action_histogram(e: probes.ExplorationReport, info: EnvInfo) -> CheckResult:
    name = "action histogram"
    shares = e.action_counts / e.action_counts.sum()
    figure = " · ".join(f"{_action_label(a, info)}: {s:.0%}" for a, s in enumerate(shares[:10]))
    figure += " · …" if len(shares) > 10 else ""
    figure += f" over {e.steps:,} steps through the schedule (untrained greedy policy)"
    never = np.flatnonzero(e.action_counts == 0)
    if len(never):
        return CheckResult(
            EXPLORATION,
            name,
            FAIL,
            figure + f": action {', '.join(_action_label(int(a), info) for a in never)} never taken",
            "raise dqn.epsilon_end or lengthen dqn.epsilon_decay",
        )
    rare = RARE_ACTION / len(shares)
    if shares.min() < rare:
        return CheckResult(
            EXPLORATION,
            name,
            WARN,
            figure + f": action {_action_label(int(shares.argmin()), info)} under {100 * rare:.2g}%",
            "raise dqn.epsilon_end or lengthen dqn.epsilon_decay",
        )
    return CheckResult(EXPLORATION, name, OK, figure)


def _coverage(e: probes.ExplorationReport) -> CheckResult:
    name = "state coverage"
    if e.discrete_states:
        visited = len(np.unique(e.observations.argmax(axis=1)))
        return CheckResult(EXPLORATION, name, OK, f"visited {visited} of {e.discrete_states} states")
    low, high = e.observations.min(axis=0), e.observations.max(axis=0)
    dims = [f"x{i} [{_g(lo)}, {_g(hi)}]" for i, (lo, hi) in enumerate(zip(low, high, strict=False))]
    figure = " · ".join(dims[:8]) + (f" · … ({len(dims) - 8} more)" if len(dims) > 8 else "")
    frozen = np.flatnonzero(low == high)
    if len(frozen):
        return CheckResult(
            EXPLORATION,
            name,
            WARN,
            f"{figure}: x{', x'.join(map(str, frozen))} never change",
            "exploration never moves these dimensions: check the env, or explore longer",
        )
    return CheckResult(EXPLORATION, name, OK, figure)


def _image_coverage(images: probes.ImageStats) -> CheckResult:
    """What the agent saw move: an image has too many pixels to list the ones that never change
    (a score, a border), so only a picture that never changes at all is worth a warning."""
    name = "state coverage"
    figure = (
        f"{images.ever_changed:.0%} of the newest frame's pixels changed at some step, "
        f"{images.mean_changed:.1%} per step · {images.still:,} of {images.steps:,} steps left the frame as it was"
    )
    if images.ever is None or not images.ever.any():
        return CheckResult(
            EXPLORATION,
            name,
            WARN,
            figure + ": the agent's image never changed",
            "exploration never moves anything the agent sees: check the env, or explore longer",
        )
    return CheckResult(EXPLORATION, name, OK, figure)


# ------------------------------------------------------------------ 5. hyperparameters
def hyperparameter_checks(config: Config, info: EnvInfo) -> list[CheckResult]:
    d = config.dqn
    network = choose_network(d.network, info.obs_shape or (info.obs_dim,))
    results = [
        CheckResult(HYPER, key, OK, f"not used: the Nature CNN's dense layer has {NATURE_HIDDEN} units")
        if key == "hidden_size" and network == "nature_cnn"
        else _usual(key, getattr(d, key))
        for key in USUAL
    ]
    if d.batch_size > d.buffer_size:
        buffer_status, advice = FAIL, "a batch cannot be drawn: make dqn.buffer_size ≥ dqn.batch_size"
    elif d.warmup_steps > d.buffer_size:
        buffer_status, advice = (
            WARN,
            "warm-up transitions overwrite each other: make dqn.buffer_size ≥ dqn.warmup_steps",
        )
    else:
        buffer_status, advice = OK, ""
    results.append(
        CheckResult(
            HYPER,
            "buffer_size",
            buffer_status,
            f"{d.buffer_size:,} (batch {d.batch_size}, warm-up {d.warmup_steps:,}, "
            f"{d.buffer_size / config.run.total_steps:.0%} of the run)"
            + (
                f" · {replay_bytes(d.buffer_size, info.frame_shape) / 1e9:.3g} GB of frames once full"
                if info.image
                else ""
            ),
            advice,
        )
    )
    syncs = config.run.total_steps // d.target_update
    sync_figure = f"every {d.target_update:,} steps = {syncs:,} target syncs in the run"
    if syncs < MIN_TARGET_SYNCS:
        results.append(
            CheckResult(
                HYPER,
                "target_update",
                WARN,
                sync_figure,
                f"fewer than {MIN_TARGET_SYNCS} syncs: the target barely moves; lower dqn.target_update",
            )
        )
    else:
        results.append(CheckResult(HYPER, "target_update", OK, sync_figure))
    results.extend(_guarded(HYPER, lambda: [_q_bound(config, info)]))  # it steps the env
    return results


def _usual(key: str, value: float) -> CheckResult:
    low, high = USUAL[key]
    figure = f"{_g(value)} (usual {_g(low)}–{_g(high)})"
    if low <= value <= high:
        return CheckResult(HYPER, key, OK, figure)
    far = key == "learning_rate" and not low / 10 <= value <= high * 10
    advice = f"outside the usual range: try dqn.{key} within {_g(low)}–{_g(high)}"
    return CheckResult(HYPER, key, FAIL if far else WARN, figure + (": far outside" if far else ""), advice)


def _q_bound(config: Config, info: EnvInfo) -> CheckResult:
    r_max = probes.reward_abs_max(config)
    gamma, limit = config.dqn.gamma, info.time_limit
    bound = q_bound(r_max, gamma, limit)
    formula = (
        f"r_max·(1-γ^T)/(1-γ) = {_g(r_max)}·(1-{_g(gamma)}^{limit})/(1-{_g(gamma)})"
        if limit
        else f"r_max/(1-γ) = {_g(r_max)}/(1-{_g(gamma)})"
    )
    if not np.isfinite(bound):
        return CheckResult(
            HYPER,
            "Q bound",
            FAIL,
            "unbounded: γ = 1 with no time limit",
            "set dqn.gamma below 1 or env.max_episode_steps",
        )
    if r_max == 0:
        return CheckResult(HYPER, "Q bound", WARN, "0: no reward seen in random play", "see the reward checks")
    return CheckResult(HYPER, "Q bound", OK, f"|Q| ≤ {formula} = {bound:.4g}: Q estimates above it mean divergence")


def summary(results: list[CheckResult]) -> dict[str, int]:
    return {status: sum(r.status == status for r in results) for status in (OK, WARN, FAIL)}


def as_dict(result: CheckResult) -> dict:
    return dataclasses.asdict(result)
