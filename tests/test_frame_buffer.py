"""The frame replay rebuilds, for every transition it can sample, exactly the stacks the env returned."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import FrameStackObservation

from cockpit.engine.config import EnvConfig
from cockpit.engine.envs import make_env
from cockpit.engine.frame_buffer import FrameReplayBuffer, FrameSampler, replay_bytes
from cockpit.engine.observations import channels_first_frames
from tests import catch_env


class Flicker(gym.Env):
    """Random frames; episodes of 1 to 9 steps that end terminated or truncated, chosen by the seed."""

    def __init__(self, shape: tuple[int, ...]):
        self.observation_space = gym.spaces.Box(0, 255, shape, dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(3)
        self._left = 0

    def _frame(self) -> np.ndarray:
        return self.np_random.integers(0, 256, self.observation_space.shape, dtype=np.uint8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._left = int(self.np_random.integers(1, 10))
        return self._frame(), {}

    def step(self, action):
        self._left -= 1
        ended = self._left == 0
        terminated = ended and bool(self.np_random.integers(2))
        return self._frame(), float(self.np_random.normal()), terminated, ended and not terminated, {}


def stacked(env: gym.Env, k: int) -> gym.Env:
    return FrameStackObservation(env, k) if k > 1 else env


class Recorder:
    """Steps a stacked env into a buffer and keeps what the env returned, by frame index.

    `life_loss`: every fifth step of an episode is terminal for learning only, as a lost life with
    env.terminal_on_life_loss is: no bootstrap, and the episode and its stacks go on."""

    def __init__(self, buffer: FrameReplayBuffer, env: gym.Env, seed: int = 0, life_loss: bool = False):
        self.buffer, self.k, self.env, self.life_loss = buffer, buffer.frame_stack, env, life_loss
        self.t = 0
        self.env.action_space.seed(seed)
        self.obs, _ = self.env.reset(seed=seed)
        self.episode_start = 0
        self.calls: list[tuple] = []  # the arguments of every add, to replay them
        self.seen: dict[int, tuple] = {}  # frame index -> (obs, next_obs, action, reward, terminated, episode start)
        self.episodes = {"terminated": 0, "truncated": 0}

    def step(self) -> None:
        action = int(self.env.action_space.sample())
        next_obs, reward, terminated, truncated, _ = self.env.step(action)
        ends = terminated or truncated
        self.t = 0 if ends else self.t + 1
        lost = self.life_loss and self.t % 5 == 4
        starts = not self.buffer.open
        self.calls.append((self.obs, next_obs, action, float(reward), terminated or lost, truncated, ends))
        self.buffer.add(*self.calls[-1])
        terminated = terminated or lost
        j = self.buffer.written - 2
        if starts:
            self.episode_start = j
        self.seen[j] = (self.obs, next_obs, action, np.float32(reward), terminated, self.episode_start)
        if ends:
            self.episodes["terminated" if terminated else "truncated"] += 1
            self.obs, _ = self.env.reset()
        else:
            self.obs = next_obs

    def expected_sampleable(self) -> list[int]:
        """Transitions whose every frame (first of the stack .. next observation) is still held."""
        oldest = self.buffer.written - min(self.buffer.written, self.buffer.capacity)
        return sorted(j for j, s in self.seen.items() if max(s[5], j - self.k + 1) >= oldest)

    def check_all(self) -> None:
        buffer = self.buffer
        indices = buffer.transitions()
        assert indices.tolist() == self.expected_sampleable()
        batch = buffer.gather(np.arange(buffer.size))
        shape = buffer.obs_shape
        for p, j in enumerate(indices.tolist()):
            obs, next_obs, action, reward, terminated, _ = self.seen[j]
            np.testing.assert_array_equal(batch.obs[p], np.reshape(obs, shape))
            np.testing.assert_array_equal(batch.next_obs[p], np.reshape(next_obs, shape))
            assert (batch.actions[p], batch.rewards[p], batch.terminated[p]) == (action, reward, float(terminated))


CASES = [  # (frame_stack, frame shape, capacity)
    (4, (5, 6), 23),
    (4, (5, 6), 5),
    (3, (2, 5, 6), 17),
    (1, (5, 6), 11),
    (1, (2, 5, 6), 4),
]


@pytest.mark.parametrize(("stack", "shape", "capacity"), CASES)
def test_every_sampleable_transition_is_the_stacks_the_env_returned(stack, shape, capacity):
    buffer = FrameReplayBuffer(capacity, shape, stack)
    run = Recorder(buffer, stacked(Flicker(shape), stack), seed=stack * 100 + capacity)
    for _ in range(12 * capacity):
        run.step()
        run.check_all()
    assert buffer.written > 4 * capacity  # the ring wrapped several times
    assert min(run.episodes.values()) >= 3  # both endings, several times
    assert buffer.size > 0


@pytest.mark.parametrize(("stack", "layout"), [(4, (5, 6, 2)), (3, (1, 5, 6)), (1, (5, 6, 3))])
def test_stacks_as_cockpits_env_layer_hands_them_to_the_agent(stack, layout):
    """Channels first and the stack along them, (stack * C, H, W): the batches come the same way."""
    env = channels_first_frames(Flicker(layout), EnvConfig(frame_stack=stack))
    channels, height, width = env.observation_space.shape or ()
    buffer = FrameReplayBuffer(19, (channels // stack, height, width), stack, merged=True)
    assert buffer.obs_shape == env.observation_space.shape
    run = Recorder(buffer, env, seed=stack)
    for _ in range(200):
        run.step()
        run.check_all()


def test_the_catch_game_through_the_whole_env_layer():
    for kwargs, limit, ending in (({"size": 6}, 0, "terminated"), ({"size": 8, "layout": "hwc"}, 5, "truncated")):
        cfg = EnvConfig(id=f"tests.catch_env:{catch_env.ENV_ID}", kwargs=kwargs, max_episode_steps=limit, frame_stack=4)
        env = make_env(cfg)
        channels, height, width = env.observation_space.shape or ()
        buffer = FrameReplayBuffer(23, (channels // 4, height, width), 4, merged=True)
        run = Recorder(buffer, env, seed=1)
        for _ in range(100):
            run.step()
            run.check_all()
        assert run.episodes[ending] >= 10


def test_a_life_lost_is_terminal_for_learning_while_the_stacks_go_on():
    buffer = FrameReplayBuffer(31, (4, 5), 4)
    run = Recorder(buffer, stacked(Flicker((4, 5)), 4), seed=5, life_loss=True)
    for _ in range(300):
        run.step()
        run.check_all()
    held = buffer.transitions().tolist()
    lost = [j for j in held if run.seen[j][4] and j + 1 in run.seen and run.seen[j + 1][5] == run.seen[j][5]]
    assert lost  # terminal transitions followed by more of their episode, their stacks checked above


def test_a_stack_never_reaches_into_an_overwritten_episode():
    buffer = FrameReplayBuffer(6, (2, 2), 4)
    frames = [np.full((4, 2, 2), i, np.uint8) for i in range(20)]
    buffer.add(frames[0], frames[1], 0, 0.0, False)
    for i in range(1, 8):
        buffer.add(frames[i], frames[i + 1], 0, 0.0, False)
    # frames 0..8 written in a ring of 6: frames 3..8 held; transition j needs max(0, j-3) .. j+1
    assert buffer.transitions().tolist() == [6, 7]


def test_sampling_is_reproducible_and_resumes_exactly_after_a_state_round_trip():
    shape, capacity = (3, 4), 40
    buffer = FrameReplayBuffer(capacity, shape, 4)
    sampler, run = FrameSampler(buffer, 11), Recorder(buffer, stacked(Flicker(shape), 4), seed=3)
    sampler.POOL = 64  # so that the run below refills the pool several times
    sampler._refill()
    for _ in range(90):
        run.step()
    sampler.sample(32)
    buffer_state, sampler_state = buffer.state_dict(), sampler.state_dict()

    first = []
    done_before = len(run.calls)
    for i in range(400):
        run.step()
        if i % 3 == 0:
            first.append(sampler.sample(32))

    again = FrameReplayBuffer(capacity, shape, 4)
    resampler = FrameSampler(again, 999)
    resampler.POOL = 64
    again.load_state_dict(buffer_state)
    resampler.load_state_dict(sampler_state)
    second = []
    for i, args in enumerate(run.calls[done_before:]):
        again.add(*args)
        if i % 3 == 0:
            second.append(resampler.sample(32))
    assert len(first) == len(second) > 100
    for a, b in zip(first, second, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(again.transitions(), buffer.transitions())


def test_newest_rewards_are_the_last_transitions_added():
    buffer = FrameReplayBuffer(10, (2, 2), 2)
    frame = np.zeros((2, 2, 2), np.uint8)
    for i in range(25):
        buffer.add(frame, frame, 0, float(i), terminated=i % 7 == 6)
    assert buffer.newest_rewards(3).tolist() == [22.0, 23.0, 24.0]


def test_an_observation_of_another_shape_is_refused_naming_it():
    buffer = FrameReplayBuffer(10, (84, 84), 4)
    with pytest.raises(ValueError, match=r"shape \(3, 84, 84\): expected \(4, 84, 84\)"):
        buffer.add(np.zeros((3, 84, 84), np.uint8), np.zeros((3, 84, 84), np.uint8), 0, 0.0, False)


def test_the_memory_a_full_buffer_takes_is_known_before_it_is_built():
    buffer = FrameReplayBuffer(1000, (84, 84), 4)
    arrays = (buffer.frames, buffer.actions, buffer.rewards, buffer.flags, buffer.depth, buffer._queue)
    assert replay_bytes(1000, (84, 84)) == sum(a.nbytes for a in arrays)
    assert replay_bytes(1_000_000, (84, 84)) / 1e6 < 7.2e3  # under ~7.2 KB per 84x84 transition
