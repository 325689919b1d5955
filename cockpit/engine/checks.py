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

import numpy as np

from cockpit.engine import network_probes, probes
from cockpit.engine.check_results import (
    EXPLORATION,
    FAIL,
    HYPER,
    LEARNING,
    OK,
    REWARD,
    SECTIONS,
    WARN,
    CheckResult,
    action_label,
    as_dict,
    g,
    summary,
)
from cockpit.engine.config import Config, ConfigError
from cockpit.engine.env_checks import environment_checks, reward_checks
from cockpit.engine.envs import EnvInfo, describe_exception, inspect_env, q_bound
from cockpit.engine.frame_buffer import replay_bytes
from cockpit.engine.networks import NATURE_HIDDEN
from cockpit.engine.observations import choose_network

__all__ = [
    "FAIL",
    "OK",
    "SECTIONS",
    "WARN",
    "CheckResult",
    "as_dict",
    "environment_checks",
    "exploration_checks",
    "hyperparameter_checks",
    "learning_checks",
    "reward_checks",
    "run_checks",
    "summary",
]

RARE_ACTION = 0.02
"""An action is rare under this fraction of a uniform policy's share, 1/n of the steps."""
MIN_TARGET_SYNCS = 10
USUAL = {"learning_rate": (1e-5, 1e-3), "hidden_size": (64, 256), "batch_size": (32, 256), "gamma": (0.9, 0.999)}
"""The ranges DQN presets usually sit in (CleanRL's, SB3's and rl-zoo's classic-control settings)."""


def run_checks(config: Config) -> list[CheckResult]:
    """Every check on the preset, in the order of SECTIONS; raises ConfigError for an env that cannot be made."""
    info = inspect_env(config.env)
    choose_network(config.dqn.network, info.obs_shape or (info.obs_dim,))  # a network that does not fit is bad input
    network_probes.set_threads(config.run.threads)
    try:
        rollouts = probes.random_rollouts(config)
    except (Exception, SystemExit) as e:  # the user's env raised: say where, and skip what needs it to run
        return [_raised(REWARD, e), *hyperparameter_checks(config, info)]
    return [
        *reward_checks(rollouts),
        *environment_checks(config, rollouts, info),
        *_guarded(LEARNING, lambda: learning_checks(network_probes.learning_probe(config, info))),
        *_guarded(EXPLORATION, lambda: exploration_checks(config, network_probes.exploration_pass(config, info), info)),
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


# ------------------------------------------------------------------ 3. learning basics
def learning_checks(p: network_probes.LearningReport) -> list[CheckResult]:
    if p.memorized_loss < network_probes.MEMORIZE_TARGET:
        memorize = CheckResult(
            LEARNING,
            "memorize one transition",
            OK,
            f"loss {p.memorized_loss:.1e} after {p.memorize_steps} steps (Adam, lr {network_probes.MEMORIZE_LR:g})",
        )
    else:
        memorize = CheckResult(
            LEARNING,
            "memorize one transition",
            FAIL,
            f"loss still {p.memorized_loss:.1e} after {p.memorize_steps} steps (Adam, lr {network_probes.MEMORIZE_LR:g})",
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
        f"TD loss {p.loss_before:.3g} → {p.loss_after:.3g} in {network_probes.BURST_UPDATES} updates"
        f" on one batch of {p.batch_size} (lr {g(p.learning_rate)})"
    )
    rose = not np.isfinite(p.loss_after) or p.loss_after >= p.loss_before
    if rose:
        advice = f"the update does not fit even a fixed batch: lower dqn.learning_rate (now {g(p.learning_rate)})"
    else:
        advice = (
            f"the update barely fits a fixed batch: raise dqn.learning_rate (now {g(p.learning_rate)}), "
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
def exploration_checks(config: Config, e: network_probes.ExplorationReport, info: EnvInfo) -> list[CheckResult]:
    d, total = config.dqn, config.run.total_steps
    figure = (
        f"ε {g(d.epsilon_start)} → {g(d.epsilon_end)} over {d.epsilon_decay:,} steps = "
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


def _action_histogram(e: network_probes.ExplorationReport, info: EnvInfo) -> CheckResult:
    name = "action histogram"
    shares = e.action_counts / e.action_counts.sum()
    figure = " · ".join(f"{action_label(a, info)}: {s:.0%}" for a, s in enumerate(shares[:10]))
    figure += " · …" if len(shares) > 10 else ""
    figure += f" over {e.steps:,} steps through the schedule (untrained greedy policy)"
    never = np.flatnonzero(e.action_counts == 0)
    if len(never):
        return CheckResult(
            EXPLORATION,
            name,
            FAIL,
            figure + f": action {', '.join(action_label(int(a), info) for a in never)} never taken",
            "raise dqn.epsilon_end or lengthen dqn.epsilon_decay",
        )
    rare = RARE_ACTION / len(shares)
    if shares.min() < rare:
        return CheckResult(
            EXPLORATION,
            name,
            WARN,
            figure + f": action {action_label(int(shares.argmin()), info)} under {100 * rare:.2g}%",
            "raise dqn.epsilon_end or lengthen dqn.epsilon_decay",
        )
    return CheckResult(EXPLORATION, name, OK, figure)


def _coverage(e: network_probes.ExplorationReport) -> CheckResult:
    name = "state coverage"
    if e.discrete_states:
        visited = len(np.unique(e.observations.argmax(axis=1)))
        return CheckResult(EXPLORATION, name, OK, f"visited {visited} of {e.discrete_states} states")
    low, high = e.observations.min(axis=0), e.observations.max(axis=0)
    dims = [f"x{i} [{g(lo)}, {g(hi)}]" for i, (lo, hi) in enumerate(zip(low, high, strict=False))]
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
    figure = f"{g(value)} (usual {g(low)}–{g(high)})"
    if low <= value <= high:
        return CheckResult(HYPER, key, OK, figure)
    far = key == "learning_rate" and not low / 10 <= value <= high * 10
    advice = f"outside the usual range: try dqn.{key} within {g(low)}–{g(high)}"
    return CheckResult(HYPER, key, FAIL if far else WARN, figure + (": far outside" if far else ""), advice)


def _q_bound(config: Config, info: EnvInfo) -> CheckResult:
    r_max = probes.reward_abs_max(config)
    gamma, limit = config.dqn.gamma, info.time_limit
    bound = q_bound(r_max, gamma, limit)
    formula = (
        f"r_max·(1-γ^T)/(1-γ) = {g(r_max)}·(1-{g(gamma)}^{limit})/(1-{g(gamma)})"
        if limit
        else f"r_max/(1-γ) = {g(r_max)}/(1-{g(gamma)})"
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
