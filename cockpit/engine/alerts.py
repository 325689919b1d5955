"""Live health alerts: the trainer's figures checked every publish interval against the failure
modes practitioners meet most, each judged the way a person would judge it:

- divergence: NaN/Inf (fatal), or loss and gradient norm far outside their own recent spread
  (robust z-scores of their logarithms: medians and MADs, with a minimum persistence), so the
  heavy-tailed loss of a healthy MSE run without clipping stays quiet;
- Q outside the range any return can take, either side, from the rewards' range;
- no learning signal: the weights stop changing, or the gradient vanishes;
- no reward seen, or Q collapsing to zero;
- exploration: ε at zero, one action taking over, the action entropy collapsing;
- learning: by scheduled greedy evaluations (the training return is ε-greedy), no progress over
  the first evaluation, or a plateau below the target long after exploration ended.

Each alert fires once per episode of trouble (it re-arms when its condition clears) and at most
once per kind per `budget_steps`; the ones folded in are counted ("+12 more since step X"). Kinds
can be muted. Every message names the step, the figure and the threshold, and what to look at.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from cockpit.engine.config import AlertsConfig
from cockpit.engine.config_values import ALERT_KINDS

SPIKE_WINDOW = 100
"""Publish intervals (of 100 steps) whose loss and gradient norm make the robust scale."""
SPIKE_MIN_HISTORY = 20
"""Intervals seen before spikes are judged."""
MAD_TO_SIGMA = 1.4826
"""A normal distribution's standard deviation in MADs: z-scores read as usual."""
LABELS = {
    "loss_spike": "loss spikes",
    "grad_spike": "gradient spikes",
    "q_out_of_range": "Q-range alerts",
    "q_near_zero": "Q-near-zero alerts",
    "no_reward": "no-reward alerts",
    "no_learning_signal": "no-signal alerts",
    "no_exploration": "no-exploration alerts",
    "action_collapse": "action collapses",
    "low_entropy": "low-entropy alerts",
    "no_progress": "no-progress alerts",
    "flat_return": "plateau alerts",
    "non_finite": "non-finite alerts",
}


@dataclass
class Health:
    """What the monitor sees at one publish interval."""

    step: int
    total_steps: int
    warmup_steps: int
    epsilon: float
    epsilon_end: float
    epsilon_end_step: int  # the step at which the current schedule reaches its end
    action_counts: np.ndarray  # over the recent window
    entropy: float
    updates: np.ndarray | None  # rows of (loss, q_mean, q_max, grad_norm) since the last check
    q_range: tuple[float, float]  # what any discounted return can be: [min(r_min, 0), max(r_max, 0)] / (1-γ)
    rewards: np.ndarray  # the rewards the agent was given since the last check
    weights_changed: bool | None  # since the last check; None before the network exists
    evaluation: tuple[int, float] | None  # a scheduled greedy evaluation (step, mean) since the last check
    recent_return: float | None  # mean raw training return of the last episodes (when evaluations are off)
    last_change: tuple[int, str, object] | None  # the latest live change: (step, key, value)
    target_return: float
    evaluations_on: bool  # scheduled evaluations happen within the run


@dataclass
class Spike:
    """A metric's recent spread, on a log scale: a value far above it for `persistence` intervals in a
    row is a spike. Values judged spiking stay out of the window, so a sustained blow-up stays unusual."""

    window: deque = field(default_factory=lambda: deque(maxlen=SPIKE_WINDOW))
    run: int = 0
    recent: deque = field(default_factory=lambda: deque(maxlen=8))
    peak: float = 0.0  # the highest z held for `persistence` intervals so far: how near the run came

    def z(self, value: float) -> tuple[float, float] | None:
        """(robust z-score, median) of `value` against the window; None while it is too short."""
        if len(self.window) < SPIKE_MIN_HISTORY:
            return None
        logs = np.asarray(self.window)
        median = float(np.median(logs))
        mad = float(np.median(np.abs(logs - median))) * MAD_TO_SIGMA
        return (math.log(value + 1e-12) - median) / max(mad, 1e-3), math.exp(median)

    def judge(self, value: float, factor: float, persistence: int) -> tuple[float, float] | None:
        """(z, median) when `value` completes a spike of `persistence` intervals, else None."""
        scored = self.z(value)
        self.recent.append(scored[0] if scored else 0.0)
        if len(self.recent) >= persistence:
            self.peak = max(self.peak, min(list(self.recent)[-persistence:]))
        if scored is not None and scored[0] > factor:
            self.run += 1
            return scored if self.run >= persistence else None
        self.run = 0
        self.window.append(math.log(value + 1e-12))
        return None


@dataclass
class HealthMonitor:
    cfg: AlertsConfig
    budget_steps: int = 1_000
    """At most one alert per kind in this many steps (the run's eval_freq)."""
    muted: set = field(default_factory=set)
    active: set = field(default_factory=set)
    counts: dict = field(default_factory=dict)  # kind -> alerts fired (shown or folded in)
    _loss: Spike = field(default_factory=Spike)
    _grad: Spike = field(default_factory=Spike)
    _last_shown: dict = field(default_factory=dict)  # kind -> step
    _folded: dict = field(default_factory=dict)  # kind -> (count, first step)
    _no_reward_steps: int = 0
    _mean_q_excess: float = -math.inf
    _max_q_excess: float = -math.inf
    _joint: deque = field(default_factory=lambda: deque(maxlen=8))
    _joint_peak: float = 0.0
    _frozen_intervals: int = 0
    _baseline: float | None = None  # the first scheduled evaluation
    _best: float = -math.inf  # the last evaluation that improved on the one before by the tolerance
    _best_step: int = 0
    _highest: float = -math.inf
    _evaluations: int = 0
    _best_return: float = -math.inf  # training return, when evaluations are off
    _best_return_step: int = 0

    def __post_init__(self) -> None:
        self.muted = set(self.muted) | set(self.cfg.muted)

    def check(self, h: Health) -> list[dict]:
        """Alerts to show now: dicts with name, message, fatal."""
        found: dict[str, tuple[str, bool]] = {}
        if h.updates is not None and len(h.updates):
            self._updates(h, found)
        self._signal(h, found)
        self._rewards(h, found)
        self._exploration(h, found)
        self._learning(h, found)
        started = [name for name in found if name not in self.active]
        self.active = set(found)
        return [alert for name in started if (alert := self._admit(name, *found[name], h.step))]

    def _admit(self, name: str, message: str, fatal: bool, step: int) -> dict | None:
        """Count it; show it unless muted or within the budget of its kind (then fold it in)."""
        self.counts[name] = self.counts.get(name, 0) + 1
        if name in self.muted and not fatal:
            return None
        last = self._last_shown.get(name)
        if not fatal and last is not None and step - last < self.budget_steps:
            count, first = self._folded.get(name, (0, step))
            self._folded[name] = (count + 1, first)
            return None
        self._last_shown[name] = step
        folded = self._folded.pop(name, None)
        if folded:
            message += f" (+{folded[0]} more {LABELS.get(name, name)} since step {folded[1]:,})"
        return {"name": name, "message": message, "fatal": fatal}

    def state_dict(self) -> dict:
        """What a checkpoint keeps, so that a resumed run judges as an uninterrupted one would."""

        def finite(x: float) -> float | None:  # JSON has no infinities
            return x if math.isfinite(x) else None

        return {
            "counts": dict(self.counts),
            "muted": sorted(self.muted),
            "active": sorted(self.active),
            "last_shown": dict(self._last_shown),
            "folded": {k: list(v) for k, v in self._folded.items()},
            "loss": [list(self._loss.window), self._loss.run],
            "grad": [list(self._grad.window), self._grad.run],
            "no_reward_steps": self._no_reward_steps,
            "frozen_intervals": self._frozen_intervals,
            "baseline": self._baseline,
            "best": finite(self._best),
            "best_step": self._best_step,
            "highest": finite(self._highest),
            "evaluations": self._evaluations,
            "best_return": finite(self._best_return),
            "best_return_step": self._best_return_step,
        }

    def load_state_dict(self, state: dict) -> None:
        """The inverse of `state_dict`; a part that is missing or of the wrong type is left as it is."""

        def number(key: str, default: float) -> float:
            value = state.get(key)
            return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default

        self.counts = {k: v for k, v in dict(state.get("counts") or {}).items() if isinstance(v, int)}
        self.muted |= {k for k in state.get("muted") or () if k in ALERT_KINDS}
        self.active = {k for k in state.get("active") or () if k in ALERT_KINDS}
        self._last_shown = {k: int(v) for k, v in dict(state.get("last_shown") or {}).items() if isinstance(v, int)}
        self._folded = {
            k: (int(v[0]), int(v[1]))
            for k, v in dict(state.get("folded") or {}).items()
            if isinstance(v, list) and len(v) == 2
        }
        for name, spike in (("loss", self._loss), ("grad", self._grad)):
            window, run = (state.get(name) or [[], 0])[:2]
            spike.window.extend(float(x) for x in window if isinstance(x, (int, float)))
            spike.run = int(run) if isinstance(run, int) else 0
        self._no_reward_steps = int(number("no_reward_steps", 0))
        self._frozen_intervals = int(number("frozen_intervals", 0))
        self._baseline = state.get("baseline") if isinstance(state.get("baseline"), (int, float)) else None
        self._best, self._best_step = number("best", -math.inf), int(number("best_step", 0))
        self._highest, self._evaluations = number("highest", -math.inf), int(number("evaluations", 0))
        self._best_return = number("best_return", -math.inf)
        self._best_return_step = int(number("best_return_step", 0))

    def margins(self) -> dict[str, float]:
        """How near a run came to its spike and Q-range alerts (for the calibration): the highest
        z held `spike_persistence` intervals, and the farthest Q strayed past its range, in widths."""
        return {
            "loss_z": self._loss.peak,
            "grad_z": self._grad.peak,
            "joint_z": self._joint_peak,
            "mean_q_excess": self._mean_q_excess,
            "max_q_excess": self._max_q_excess,
        }

    def folded(self) -> dict[str, tuple[int, int]]:
        """Alerts folded in and not yet told, per kind: (count, first step); for the run's end."""
        return dict(self._folded)

    # ------------------------------------------------------------------ the update figures
    def _updates(self, h: Health, found: dict) -> None:
        c = self.cfg
        assert h.updates is not None  # checked only where the interval had updates
        finite = np.asarray(np.isfinite(h.updates).all(axis=0))  # one pass over the interval's rows
        bad = [name for name, i in (("loss", 0), ("Q", 2), ("gradient norm", 3)) if not finite[i]]
        if bad:
            found["non_finite"] = (
                f"non-finite {' and '.join(bad)} at step {h.step:,}: training diverged. Look at: the learning "
                "rate, reward scale (clip rewards), the loss (huber is robust), gradient clipping",
                True,
            )
            return
        loss, q_mean, q_max, grad = h.updates.mean(axis=0).tolist()
        change = h.last_change if h.last_change and h.step - h.last_change[0] <= c.change_watch_steps else None
        for name, spike, value, factor, what, advice in (
            ("loss_spike", self._loss, loss, c.loss_spike_factor, "loss", "learning rate, target_update, reward scale"),
            (
                "grad_spike",
                self._grad,
                grad,
                c.grad_spike_factor,
                "gradient norm",
                "loss, learning rate, max_grad_norm",
            ),
        ):
            if change:
                factor = min(factor, c.change_spike_factor)
            judged = spike.judge(value, factor, c.spike_persistence)
            if judged:
                z, median = judged
                cause = (
                    f" since the live change {change[1]} = {change[2]} at step {change[0]:,}: undo it with "
                    "its rollback command"
                    if change
                    else ""
                )
                found[name] = (
                    f"{what} {value:.3g} at step {h.step:,}: {z:.0f} robust scales (MADs) above its recent median "
                    f"{median:.3g} for {spike.run} intervals (threshold {factor:g}){cause}: diverging. "
                    f"Look at: {advice}",
                    False,
                )
        self._joint.append(min(self._loss.recent[-1], self._grad.recent[-1]))
        if len(self._joint) >= c.spike_persistence:
            self._joint_peak = max(self._joint_peak, min(list(self._joint)[-c.spike_persistence :]))
        self._q_range(h, q_mean, q_max, found)

    def _q_range(self, h: Health, q_mean: float, q_max: float, found: dict) -> None:
        c = self.cfg
        low, high = h.q_range
        if not (math.isfinite(low) and math.isfinite(high)):
            return
        width = max(high - low, 1e-9)
        self._mean_q_excess = max(self._mean_q_excess, (q_mean - high) / width, (low - q_mean) / width)
        self._max_q_excess = max(self._max_q_excess, (q_max - high) / width)
        slack = (c.q_bound_factor - 1.0) * width
        above = [(n, v) for n, v in (("max Q", q_max), ("mean Q", q_mean)) if v > high + slack]
        below = [(n, v) for n, v in (("mean Q", q_mean),) if v < low - slack]
        if above or below:
            name, value = (above or below)[0]
            side = (
                f"above the most any return can be, {high:.3g}: overestimation"
                if above
                else f"below the least any return can be, {low:.3g}: underestimation"
            )
            found["q_out_of_range"] = (
                f"{name} {value:.3g} at step {h.step:,} is {side} or divergence (returns lie in "
                f"[{low:.3g}, {high:.3g}] from the rewards' range and γ; threshold {c.q_bound_factor:g}× its width). "
                "Look at: reward scale, double_dqn, target_update (longer), learning rate (lower)",
                False,
            )
        scale = max(abs(low), abs(high))
        if h.step > h.warmup_steps + c.q_zero_after_steps and scale > 0 and abs(q_mean) < c.q_zero_fraction * scale:
            found["q_near_zero"] = (
                f"|mean Q| {abs(q_mean):.3g} at step {h.step:,} < {c.q_zero_fraction:g}× the largest return's size "
                f"{scale:.3g}, {c.q_zero_after_steps:,} steps after warm-up: not learning values. Look at: rewards "
                "(cockpit check), gradients reaching the network, learning rate",
                False,
            )

    def _signal(self, h: Health, found: dict) -> None:
        """Weights that no longer move (or a vanished gradient) while updates run: nothing is learned."""
        if h.weights_changed is None or h.updates is None or not len(h.updates):
            return
        vanished = float(np.abs(h.updates[:, 3]).max()) < 1e-10
        self._frozen_intervals = self._frozen_intervals + 1 if (vanished or not h.weights_changed) else 0
        if self._frozen_intervals >= self.cfg.frozen_intervals:
            what = "the gradient norm is 0" if vanished else "the weights have not changed"
            found["no_learning_signal"] = (
                f"{what} for {self._frozen_intervals * 100:,} steps of updates at step {h.step:,} (threshold "
                f"{self.cfg.frozen_intervals} intervals): no learning signal reaches the network. Look at: the "
                "learning rate (0?), detached tensors or frozen parameters in a custom network",
                False,
            )

    def _rewards(self, h: Health, found: dict) -> None:
        low, high = h.q_range
        if not len(h.rewards) or (low == 0 and high == 0):
            return  # random play saw no reward either: zeros are this env's normal
        self._no_reward_steps = self._no_reward_steps + len(h.rewards) if not np.any(h.rewards) else 0
        if self._no_reward_steps >= self.cfg.no_reward_steps:
            found["no_reward"] = (
                f"no reward at all for the last {self._no_reward_steps:,} steps at step {h.step:,} (threshold "
                f"{self.cfg.no_reward_steps:,}), though random play got some: the reward is lost on its way. "
                "Look at: reward wrappers and clipping, the env's reward (cockpit check)",
                False,
            )

    # ------------------------------------------------------------------ exploration
    def _exploration(self, h: Health, found: dict) -> None:
        c = self.cfg
        solved = math.isfinite(h.target_return) and self._highest >= h.target_return
        if h.step > h.warmup_steps and h.epsilon <= c.exploration_floor and not solved:
            found["no_exploration"] = (
                f"ε = {h.epsilon:g} at step {h.step:,} (threshold {c.exploration_floor:g}) before the target was "
                "reached: past the warm-up the agent only repeats its own greedy choices. Look at: epsilon_start, "
                "epsilon_end, epsilon_decay",
                False,
            )
        total = h.action_counts.sum()
        if total < 100 or len(h.action_counts) < 2:
            return
        share = h.action_counts.max() / total
        if h.step > h.warmup_steps and h.epsilon >= c.collapse_min_epsilon and share > c.collapse_action_share:
            found["action_collapse"] = (
                f"action {int(h.action_counts.argmax())} took {share:.0%} of recent steps at step {h.step:,} while "
                f"ε = {h.epsilon:.2f} (threshold {c.collapse_action_share:.0%}): exploration collapsed. Look at: "
                "the epsilon schedule, whether actions differ (cockpit play)",
                False,
            )
        max_entropy = math.log(len(h.action_counts))
        if h.step < h.epsilon_end_step and h.entropy < c.entropy_floor * max_entropy:
            found["low_entropy"] = (
                f"action entropy {h.entropy:.3f} at step {h.step:,} < {c.entropy_floor:g}× its maximum "
                f"{max_entropy:.3f} before epsilon reached its end: the agent barely explores. Look at: "
                "epsilon_start, epsilon_decay",
                False,
            )

    # ------------------------------------------------------------------ learning
    def _learning(self, h: Health, found: dict) -> None:
        if not h.evaluations_on:
            self._training_plateau(h, found)
            return
        if h.evaluation is not None:
            step, mean = h.evaluation
            if self._baseline is None:
                self._baseline = mean
            self._highest = max(self._highest, mean)
            self._evaluations += 1
            if mean > self._best + self._tolerance(h):
                self._best, self._best_step = mean, step
        if self._baseline is None:
            return
        c = self.cfg
        target = h.target_return
        scale = abs(target - self._baseline) if math.isfinite(target) else max(abs(self._baseline), 1.0)
        after = c.no_progress_after_steps or round(c.no_progress_fraction * h.total_steps)
        judged = self._evaluations >= 3 and h.step > h.warmup_steps + after  # a trend, not the first reading
        solved = math.isfinite(target) and self._highest >= target
        if judged and not solved and self._highest <= self._baseline + c.progress_margin * scale:
            found["no_progress"] = (
                f"greedy evaluation at most {self._highest:.1f} by step {h.step:,}, no better than its first "
                f"{self._baseline:.1f} plus {c.progress_margin:.0%} of the way to the target, {after:,} steps after "
                "warm-up: not learning. Look at: observations (cockpit check), rewards, learning rate, network size",
                False,
            )
        flat_since = max(self._best_step, h.epsilon_end_step)
        if not solved and h.step > h.epsilon_end_step and h.step - flat_since > c.flat_after_steps:
            found["flat_return"] = (
                f"greedy evaluation flat: best {self._best:.1f} at step {self._best_step:,}, none better by "
                f"{c.flat_tolerance:.0%} in {h.step - flat_since:,} steps (threshold {c.flat_after_steps:,}) after "
                f"epsilon reached its end. Look at: learning rate, network size, exploration (epsilon_end)",
                False,
            )

    def _tolerance(self, h: Health) -> float:
        """What counts as a better evaluation: a share of the way from the first one to the target."""
        if self._baseline is None or not math.isfinite(self._best):
            return 0.0
        target = h.target_return
        scale = abs(target - self._baseline) if math.isfinite(target) else max(abs(self._best), 1.0)
        return self.cfg.flat_tolerance * scale

    def _training_plateau(self, h: Health, found: dict) -> None:
        """Without scheduled evaluations: the ε-greedy training return, with the calibrated margin."""
        c = self.cfg
        if h.recent_return is None:
            return
        tolerance = c.flat_tolerance * max(abs(self._best_return), 1.0) if math.isfinite(self._best_return) else 0
        if h.recent_return > self._best_return + tolerance:
            self._best_return, self._best_return_step = h.recent_return, h.step
        solved = math.isfinite(h.target_return) and h.recent_return >= h.target_return * (1 - c.flat_tolerance)
        flat_since = max(self._best_return_step, h.epsilon_end_step)
        if not solved and h.step > h.epsilon_end_step and h.step - flat_since > c.flat_after_steps:
            found["flat_return"] = (
                f"training return flat at {h.recent_return:.1f} for {h.step - flat_since:,} steps (threshold "
                f"{c.flat_after_steps:,}) after epsilon reached its end (ε = {h.epsilon_end:g}; no scheduled "
                "evaluations to judge by). Look at: learning rate, network size, exploration (epsilon_end)",
                False,
            )
