"""What an observation is to the network: a vector, or an image with its channel axis found.

Images reach the agent channels-first, `(C·stack, H, W)` uint8, whatever layout the env uses; the
network scales them to [0, 1] itself, so the replay stores one byte per pixel. Torch-free: the CLI
checks a preset with it before a run directory exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import FrameStackObservation, TransformObservation

from cockpit.engine.config import ConfigError, EnvConfig

MAX_CHANNELS = 4
"""The largest axis read as channels: gray, RGB, RGBA."""

NATURE_CNN_MIN_SIDE = 36
"""The smallest side the Nature CNN's 8x8/4, 4x4/2 and 3x3/1 convolutions leave a pixel of."""

SMALL_CNN_MIN_SIDE = 3
"""Likewise for the small CNN's 3x3/1 convolution."""


@dataclass(frozen=True)
class ImageLayout:
    """Where an env's image keeps its channels; `frame_shape` is one frame, channels-first."""

    layout: str  # "hw", "chw" or "hwc"
    frame_shape: tuple[int, int, int]


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def is_image_space(space: spaces.Space) -> bool:
    """A uint8 Box of two or three axes: what cockpit trains with a CNN."""
    return isinstance(space, spaces.Box) and space.dtype == np.uint8 and len(space.shape) in (2, 3)


def image_layout(space: spaces.Space, cfg: EnvConfig) -> ImageLayout:
    """The channel axis of a uint8 image: the first or last axis of size <= 4; where both are,
    `env.channels_first` decides. Raises ConfigError naming the shape."""
    shape = tuple(int(n) for n in space.shape or ())
    if len(shape) == 2:
        return ImageLayout("hw", (1, shape[0], shape[1]))
    first, last = shape[0] <= MAX_CHANNELS, shape[-1] <= MAX_CHANNELS
    where = f"env.id = {cfg.id!r}: image observation of shape {_shape_text(shape)}"
    if cfg.channels_first is None and first and last:
        raise ConfigError(
            f"{where}: both its first and last axes could hold the channels "
            "(expected env.channels_first = true for (C, H, W) or false for (H, W, C))"
        )
    channels_first = first if cfg.channels_first is None else cfg.channels_first
    if channels_first and first:
        return ImageLayout("chw", (shape[0], shape[1], shape[2]))
    if not channels_first and last:
        return ImageLayout("hwc", (shape[2], shape[0], shape[1]))
    if cfg.channels_first is not None:
        axis = "first" if cfg.channels_first else "last"
        raise ConfigError(
            f"{where}, env.channels_first = {str(cfg.channels_first).lower()}: its {axis} axis has more than "
            f"{MAX_CHANNELS} entries (expected the channels there, at most {MAX_CHANNELS})"
        )
    raise ConfigError(
        f"{where}: no channel axis (expected (H, W), (H, W, C) or (C, H, W) with at most {MAX_CHANNELS} channels)"
    )


def check_observation_space(space: spaces.Space, cfg: EnvConfig) -> None:
    """Refuse what cockpit cannot train on, naming the space and what was expected."""
    if isinstance(space, spaces.Discrete):
        pass
    elif isinstance(space, spaces.Box) and len(space.shape) == 1:
        pass
    elif is_image_space(space):
        image_layout(space, cfg)  # raises for an unclear layout
    else:
        text = " ".join(str(space).split())
        raise ConfigError(
            f"env.id = {cfg.id!r}: observation space {text} is not supported (expected a flat Box vector, "
            "Discrete, or a uint8 image Box (H, W), (H, W, C) or (C, H, W); Dict and other spaces are not)"
        )
    if cfg.frame_stack > 1 and not is_image_space(space):
        raise ConfigError(
            f"env.frame_stack = {cfg.frame_stack}: stacks image frames, and env.id = {cfg.id!r} observes "
            f"{' '.join(str(space).split())} (expected 1)"
        )
    if cfg.normalize_obs and is_image_space(space):
        raise ConfigError(
            f"env.normalize_obs = true: env.id = {cfg.id!r} observes images, which the network scales itself "
            "(expected false)"
        )


def channels_first_frames(env: gym.Env, cfg: EnvConfig) -> gym.Env:
    """Wrap an image env so that it observes `(C·stack, H, W)` uint8: channels moved first, then
    `env.frame_stack` frames stacked along them (the first frames of an episode repeat its first)."""
    found = image_layout(env.observation_space, cfg)
    channels, height, width = found.frame_shape
    move = found.layout == "hwc"

    def to_frame(obs: np.ndarray) -> np.ndarray:
        # A copy: an env may hand back one array it overwrites in place, and the stack keeps references.
        return np.array(np.moveaxis(obs, -1, 0) if move else obs, dtype=np.uint8).reshape(found.frame_shape)

    env = TransformObservation(env, to_frame, spaces.Box(0, 255, found.frame_shape, np.uint8))
    if cfg.frame_stack > 1:
        env = FrameStackObservation(env, cfg.frame_stack)
        stacked = (cfg.frame_stack * channels, height, width)
        env = TransformObservation(env, lambda obs: obs.reshape(stacked), spaces.Box(0, 255, stacked, np.uint8))
    return env


def choose_network(network: str, obs_shape: tuple[int, ...]) -> str:
    """The network `dqn.network` means for this observation: `auto` picks the MLP for vectors, the
    Nature CNN for images with both sides >= 36, the small CNN for smaller ones. Raises ConfigError."""
    image = len(obs_shape) == 3
    shape = _shape_text(obs_shape)
    if network == "auto":
        if not image:
            return "mlp"
        network = "nature_cnn" if min(obs_shape[1:]) >= NATURE_CNN_MIN_SIDE else "small_cnn"
    if network == "mlp":
        if image:
            raise ConfigError(
                f"dqn.network = 'mlp': the observation is an image {shape} (expected 'auto', 'nature_cnn' "
                "or 'small_cnn')"
            )
        return network
    if not image:
        raise ConfigError(f"dqn.network = {network!r}: the observation is a vector {shape} (expected 'auto' or 'mlp')")
    smallest = NATURE_CNN_MIN_SIDE if network == "nature_cnn" else SMALL_CNN_MIN_SIDE
    if min(obs_shape[1:]) < smallest:
        raise ConfigError(
            f"dqn.network = {network!r}: images of shape {shape} are too small for it "
            f"(expected sides of at least {smallest}; 'small_cnn' takes {SMALL_CNN_MIN_SIDE})"
        )
    return network
