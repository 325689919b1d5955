"""Replay for image observations: each frame stored once, stacks rebuilt from indices when sampled.

The buffer is a ring of frames in the order the env produced them. A transition is the frame it
starts from plus its action, reward and flags; its next observation is the frame after it. An
episode of T steps takes T + 1 slots: its final frame (terminal or truncated) is stored too, so a
truncated transition still bootstraps from the observation the env returned.

A stack of `frame_stack` frames ending at frame j is frames j-k+1 .. j, each clamped to the first
frame of j's episode: Gymnasium's `FrameStackObservation` pads an episode's first stacks with its
reset observation (`padding_type="reset"`, the default), and so does this. Each slot keeps how far
it lies into its episode (`depth`, capped at k - 1), which is all the clamping needs.

Which transitions can be sampled is a queue of their absolute frame indices, oldest first: a
transition joins when its next frame is written and leaves when the ring overwrites the oldest
frame its stacks use. Sampling maps a uniform position in that queue to a transition, so draws are
uniform over exactly the sampleable transitions, with vectorised index arithmetic only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from cockpit.engine.buffer import UniformPool

TRANSITION, TERMINATED, TRUNCATED = 1, 2, 4
"""Bits of a slot's flags: a transition starts here (its action was taken); how its episode ended."""


class FrameBatch(NamedTuple):
    obs: np.ndarray  # uint8 [B, *obs_shape], a view of `frames`
    next_obs: np.ndarray  # uint8 [B, *obs_shape], a view of `frames`
    actions: np.ndarray  # int64
    rewards: np.ndarray  # float32
    terminated: np.ndarray  # float32, 1.0 where the next state is terminal (no bootstrap)
    frames: np.ndarray  # uint8: frame_stack + 1 frames each, obs the first frame_stack, next_obs the
    # last, so that one conversion (to a tensor, to float) serves both


def record_dtype(frame_shape: tuple[int, ...]) -> np.dtype:
    """One slot as a record: how the segment store writes a run of slots as one array."""
    return np.dtype(
        [
            ("frame", np.uint8, frame_shape),
            ("action", np.int32),
            ("reward", np.float32),
            ("flags", np.uint8),
            ("depth", np.uint8),
        ]
    )


def replay_bytes(capacity: int, frame_shape: tuple[int, ...]) -> int:
    """The memory a `FrameReplayBuffer` of this size takes once full: a run can refuse a buffer that
    cannot fit before it starts, naming this figure."""
    return capacity * (record_dtype(frame_shape).itemsize + np.dtype(np.int64).itemsize)


class FrameReplayBuffer:
    """A ring of `capacity` uint8 frames of `frame_shape`, sampled as stacks of `frame_stack`.

    `capacity` counts frames: an episode's final frame takes a slot without being a transition, and
    the oldest frames of an episode whose start was overwritten cannot be stacked, so `size` (the
    sampleable transitions) stays a little under `capacity` once the ring has wrapped.

    Observations come, and batches go, as `obs_shape`: (frame_stack, *frame_shape) as
    `FrameStackObservation` returns them, or with `merged` the stack along the channels of (C, H, W)
    frames, (frame_stack * C, H, W), as cockpit's env layer hands images to the agent.
    """

    def __init__(self, capacity: int, frame_shape: tuple[int, ...], frame_stack: int = 1, merged: bool = False):
        if not 1 <= frame_stack <= 256:
            raise ValueError(f"frame_stack = {frame_stack}: expected 1 to 256")
        if capacity <= frame_stack:
            raise ValueError(f"capacity = {capacity}: expected more than frame_stack ({frame_stack})")
        self.capacity = capacity
        self.frame_shape = tuple(int(n) for n in frame_shape)
        self.frame_stack = frame_stack
        if merged and len(self.frame_shape) != 3:
            raise ValueError(f"frames of shape {self.frame_shape} with merged channels: expected (C, H, W)")
        self.merged = merged
        if merged:
            channels, *rest = self.frame_shape
            self.obs_shape: tuple[int, ...] = (frame_stack * channels, *rest)
        else:
            self.obs_shape = (frame_stack, *self.frame_shape)
        self.frames = np.zeros((capacity, *self.frame_shape), dtype=np.uint8)
        self.actions = np.zeros(capacity, dtype=np.int32)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.flags = np.zeros(capacity, dtype=np.uint8)
        self.depth = np.zeros(capacity, dtype=np.uint8)
        self._queue = np.zeros(capacity, dtype=np.int64)  # a ring of sampleable transitions' frame indices
        self._head = self._tail = 0  # absolute positions in that ring
        self.written = 0
        """Frames written since the buffer was created: frame j lives in slot j % capacity."""
        self.open = False
        """Whether the newest frame belongs to an episode still running (the next `add` continues it)."""
        self.generation = 0
        """Counts restores: the segment store writes only what changed since the state it last saved
        or loaded, which holds while the generation is the same."""
        self._offsets = np.arange(frame_stack + 1, dtype=np.int64) - (frame_stack - 1)

    @property
    def size(self) -> int:
        """How many transitions can be sampled."""
        return self._tail - self._head

    @property
    def record_dtype(self) -> np.dtype:
        return record_dtype(self.frame_shape)

    # ------------------------------------------------------------------ adding
    def frame_of(self, obs: np.ndarray) -> np.ndarray:
        """The newest frame of an observation: the last of a stack, or the observation itself."""
        obs = np.asarray(obs)
        if obs.shape == self.obs_shape:
            return obs[-self.frame_shape[0] :] if self.merged else obs[-1]
        if self.frame_stack == 1 and obs.shape == self.frame_shape:
            return obs
        raise ValueError(
            f"observation of shape {obs.shape}: expected {self.obs_shape}"
            + (f" or {self.frame_shape}" if self.frame_stack == 1 and not self.merged else "")
        )

    def add(
        self,
        obs: np.ndarray,
        next_obs: np.ndarray,
        action: int,
        reward: float,
        terminated: bool,
        truncated: bool = False,
        ends_episode: bool | None = None,
    ) -> None:
        """One env step, as the loop sees it. Only `next_obs`'s newest frame is stored, and `obs`'s
        at the first step of an episode. `terminated`: the TD target does not bootstrap from
        `next_obs`. `ends_episode`: the env's episode is over, the next step comes from a reset; by
        default `terminated or truncated`, false for a lost life that is terminal for learning only."""
        if not self.open:
            self._write(self.frame_of(obs), depth=0)
            self.open = True
        j = self.written - 1
        slot = j % self.capacity
        self.actions[slot] = action
        self.rewards[slot] = reward
        self.flags[slot] = TRANSITION | (TERMINATED if terminated else 0) | (TRUNCATED if truncated else 0)
        self._write(self.frame_of(next_obs), depth=min(int(self.depth[slot]) + 1, self.frame_stack - 1))
        self._queue[self._tail % self.capacity] = j
        self._tail += 1
        self.open = not (terminated or truncated if ends_episode is None else ends_episode)

    def _write(self, frame: np.ndarray, depth: int) -> None:
        """Frame `written` into its slot, after dropping the transitions whose stacks use the frame it replaces."""
        overwritten = self.written - self.capacity
        queue, cap = self._queue, self.capacity
        while self._head < self._tail:
            j = int(queue[self._head % cap])
            if j - int(self.depth[j % cap]) > overwritten:
                break
            self._head += 1
        slot = self.written % cap
        self.frames[slot] = frame
        self.depth[slot] = depth
        self.flags[slot] = 0
        self.written += 1

    # ---------------------------------------------------------------- sampling
    def transitions(self) -> np.ndarray:
        """The frame indices of the sampleable transitions, oldest first (position p is `gather`'s p)."""
        return self._queue[(self._head + np.arange(self.size)) % self.capacity]

    def gather(self, positions: np.ndarray) -> FrameBatch:
        """The transitions at `positions` (integers in [0, size)) of the sampleable ones, oldest first."""
        cap = self.capacity
        j = self._queue[(self._head + positions) % cap]
        slots = j % cap
        depth = self.depth[slots].astype(np.int64)
        frames = (j[:, None] + np.maximum(self._offsets, -depth[:, None])) % cap
        stacks = self.frames.take(frames, axis=0)  # [B, frame_stack + 1, *frame_shape]
        step = 1
        if self.merged:
            step = self.frame_shape[0]
            stacks = stacks.reshape(len(j), -1, *self.frame_shape[1:])
        return FrameBatch(
            obs=stacks[:, :-step],
            next_obs=stacks[:, step:],
            actions=self.actions[slots].astype(np.int64),
            rewards=self.rewards[slots],
            terminated=((self.flags[slots] & TERMINATED) != 0).astype(np.float32),
            frames=stacks,
        )

    def newest_rewards(self, n: int) -> np.ndarray:
        """The rewards of the last `n` transitions added (fewer when fewer can be sampled)."""
        n = min(n, self.size)
        return self.rewards[self._queue[(self._tail - n + np.arange(n)) % self.capacity] % self.capacity]

    # ------------------------------------------------------------------- state
    def held(self) -> int:
        """Slots written at least once: 0 .. held - 1."""
        return min(self.written, self.capacity)

    def records(self, start: int, stop: int) -> np.ndarray:
        """Slots start .. stop - 1 as one array of records (a copy)."""
        out = np.empty(stop - start, dtype=self.record_dtype)
        out["frame"] = self.frames[start:stop]
        out["action"] = self.actions[start:stop]
        out["reward"] = self.rewards[start:stop]
        out["flags"] = self.flags[start:stop]
        out["depth"] = self.depth[start:stop]
        return out

    def put_records(self, start: int, records: np.ndarray) -> None:
        stop = start + len(records)
        self.frames[start:stop] = records["frame"]
        self.actions[start:stop] = records["action"]
        self.rewards[start:stop] = records["reward"]
        self.flags[start:stop] = records["flags"]
        self.depth[start:stop] = records["depth"]

    def counters(self) -> dict:
        return {"written": self.written, "open": self.open}

    def restore_counters(self, counters: dict) -> None:
        """Put the counters back once the slots are in place, and rebuild the queue from the slots."""
        written, is_open = counters.get("written"), counters.get("open")
        if not isinstance(written, int) or isinstance(written, bool) or written < 0:
            raise ValueError(f"written = {written!r}: expected an integer >= 0")
        if not isinstance(is_open, bool) or (is_open and written == 0):
            raise ValueError(f"open = {is_open!r}: expected true or false (false while nothing is written)")
        held = min(written, self.capacity)
        if held and int(self.depth[:held].max()) >= self.frame_stack:
            raise ValueError(
                f"depth up to {int(self.depth[:held].max())}: expected below frame_stack ({self.frame_stack})"
            )
        self.written, self.open = written, is_open
        first = written - held
        frames = np.arange(first, written, dtype=np.int64)
        slots = frames % self.capacity
        sampleable = ((self.flags[slots] & TRANSITION) != 0) & (frames - self.depth[slots] >= first)
        found = frames[sampleable]
        self._queue[: len(found)] = found
        self._head, self._tail = 0, len(found)
        self.generation += 1

    ARRAYS = ("frames", "actions", "rewards", "flags", "depth")

    def state_dict(self) -> dict:
        """The held slots' arrays and the counters: for buffers small enough to checkpoint whole."""
        held = self.held()
        return {**{k: getattr(self, k)[:held].copy() for k in self.ARRAYS}, **self.counters()}

    def load_state_dict(self, state: dict) -> None:
        held = min(int(state["written"]), self.capacity)
        for key in self.ARRAYS:
            shape: tuple[int, ...] = (held, *self.frame_shape) if key == "frames" else (held,)
            if tuple(state[key].shape) != shape:
                raise ValueError(f"replay {key} of shape {tuple(state[key].shape)}: expected {shape}")
            getattr(self, key)[:held] = state[key]
        self.restore_counters({"written": int(state["written"]), "open": bool(state["open"])})


class FrameSampler(UniformPool):
    """Replay draws as `buffer.ReplaySampler` draws them, each uniform scaled by the number of
    sampleable transitions when used."""

    def __init__(self, buffer: FrameReplayBuffer, seed: int):
        super().__init__(seed)
        self.buffer = buffer

    def sample(self, batch_size: int) -> FrameBatch:
        """A batch drawn uniformly with replacement from the sampleable transitions."""
        if self.buffer.size == 0:
            raise ValueError("no transition to sample yet")
        positions = (self._uniform(batch_size) * self.buffer.size).astype(np.int64)  # floor: in [0, size)
        return self.buffer.gather(positions)
