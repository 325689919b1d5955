"""The Q-networks: an MLP for vectors, the Nature DQN CNN for Atari-sized images, a small CNN for
small ones. `build_q_network` picks and builds one; `init_weights` draws its initial weights.

Image networks take the uint8 observation as stored and scale it to [0, 1] themselves, once per
batch: the replay keeps one byte per pixel and no float copy of a stack exists outside the network.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cockpit.engine.config import DQNConfig
from cockpit.engine.observations import choose_network

NATURE_HIDDEN = 512
"""Units of the Nature CNN's dense layer (Mnih et al. 2015)."""


def mlp(obs_dim: int, n_actions: int, hidden_size: int, hidden_layers: int) -> nn.Sequential:
    """The MLP of vector observations: hidden_layers ReLU layers of hidden_size units."""
    layers: list[nn.Module] = []
    width = obs_dim
    for _ in range(hidden_layers):
        layers += [nn.Linear(width, hidden_size), nn.ReLU()]
        width = hidden_size
    layers.append(nn.Linear(width, n_actions))
    return nn.Sequential(*layers)


class ImageQNetwork(nn.Module):
    """Convolutions, then a dense layer, then one Q-value per action, on uint8 (N, C, H, W) input.

    `channels_last` keeps activations in NHWC memory order, which oneDNN's CPU convolutions run
    without reordering; the tensors keep their NCHW shape either way."""

    def __init__(self, convolutions: nn.Sequential, obs_shape: tuple[int, ...], hidden: int, n_actions: int):
        super().__init__()
        self.convolutions = convolutions
        with torch.no_grad():
            features = convolutions(torch.zeros(1, *obs_shape)).flatten(1).shape[1]
        self.head = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, n_actions))
        self.channels_last = False

    def use_channels_last(self, on: bool = True) -> ImageQNetwork:
        self.channels_last = on
        order = torch.channels_last if on else torch.contiguous_format
        for weight in self.parameters():  # the convolutions' kernels: what Module.to(memory_format=) moves
            if weight.dim() == 4:
                weight.data = weight.data.contiguous(memory_format=order)
        return self

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.float() / 255.0
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.head(self.convolutions(x).flatten(1))


def nature_cnn(obs_shape: tuple[int, ...], n_actions: int) -> ImageQNetwork:
    """Mnih et al. 2015: 32 8x8/4, 64 4x4/2, 64 3x3/1 convolutions, 512 units."""
    channels = obs_shape[0]
    convolutions = nn.Sequential(
        nn.Conv2d(channels, 32, 8, stride=4),
        nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1),
        nn.ReLU(),
    )
    return ImageQNetwork(convolutions, obs_shape, NATURE_HIDDEN, n_actions)


def small_cnn(obs_shape: tuple[int, ...], n_actions: int, hidden_size: int) -> ImageQNetwork:
    """MinAtar's network (Young and Tian 2019): one 16-channel 3x3/1 convolution, then hidden_size
    units, for images too small for the Nature CNN's 8x8/4."""
    convolutions = nn.Sequential(nn.Conv2d(obs_shape[0], 16, 3, stride=1), nn.ReLU())
    return ImageQNetwork(convolutions, obs_shape, hidden_size, n_actions)


def build_q_network(
    obs_shape: tuple[int, ...], n_actions: int, cfg: DQNConfig, channels_last: bool = True
) -> nn.Module:
    """The network `dqn.network` names (or `auto` picks) for this observation shape (EnvInfo.obs_shape);
    image networks in channels-last memory order where asked (faster on CPU; docs/benchmarks.md).
    Raises ConfigError where the network does not fit the observation (`observations.choose_network`)."""
    kind = choose_network(cfg.network, obs_shape)
    if kind == "mlp":
        return mlp(math.prod(obs_shape), n_actions, cfg.hidden_size, cfg.hidden_layers)
    net = nature_cnn(obs_shape, n_actions) if kind == "nature_cnn" else small_cnn(obs_shape, n_actions, cfg.hidden_size)
    return net.use_channels_last(channels_last)


def init_weights(net: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default initialisation of Linear and Conv2d layers (weights and biases uniform in
    ±1/sqrt(fan_in)), drawn from the given generator instead of the global one, so that building a
    network elsewhere (a render, an evaluation) never shifts the trainer's stream."""
    with torch.no_grad():
        for layer in net.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                bound = 1.0 / math.sqrt(layer.weight[0].numel())
                layer.weight.uniform_(-bound, bound, generator=generator)
                if layer.bias is not None:
                    layer.bias.uniform_(-bound, bound, generator=generator)
