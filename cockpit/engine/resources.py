"""What a run will ask of the machine, checked before it starts: a network or buffer too large
for the memory there is would otherwise fail a thousand steps in (or take the machine down with
it), after its run directory exists.

No torch: the figures come from the config and the env's sizes, not from building anything. An
image run's replay is the frame buffer's own figure (`frame_buffer.replay_bytes`), its network's
parameters are counted from the convolutions' shapes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cockpit.engine.config import Config

FLOAT_BYTES = 4
NETWORK_COPIES = 5
"""Online and target weights, gradients, and Adam's two moments."""
BUFFER_COPIES = 2
"""The buffer itself, and the copy a full checkpoint takes of it while it is saved."""
ACTIVATION_COPIES = 8
"""Per hidden unit and batch row, the forward and backward passes of both networks (generous)."""
BASELINE_BYTES = 400 * 2**20
"""Python, torch, gymnasium and the front end, before any network or buffer."""


def cores() -> int:
    """The cores this process may run on (its affinity, which a container or `taskset` narrows)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def network_parameters(obs_dim: int, n_actions: int, hidden_size: int, hidden_layers: int) -> int:
    widths = [obs_dim] + [hidden_size] * hidden_layers + [n_actions]
    return sum(a * b + b for a, b in zip(widths, widths[1:], strict=False))


def conv_side(side: int, kernel: int, stride: int) -> int:
    return (side - kernel) // stride + 1


def cnn_sizes(network: str, obs_shape: tuple[int, ...], n_actions: int, hidden_size: int) -> tuple[int, int]:
    """(parameters, activations per batch row) of networks.py's image network `network` ("nature_cnn"
    or "small_cnn") on (C, H, W) observations: weights and biases of each layer, and the floats each
    layer's output holds (the input's float copy included)."""
    channels, height, width = obs_shape
    layers = [(32, 8, 4), (64, 4, 2), (64, 3, 1)] if network == "nature_cnn" else [(16, 3, 1)]
    hidden = 512 if network == "nature_cnn" else hidden_size
    parameters, activations = 0, channels * height * width
    for out, kernel, stride in layers:
        parameters += channels * out * kernel * kernel + out
        channels, height, width = out, conv_side(height, kernel, stride), conv_side(width, kernel, stride)
        activations += out * height * width
    features = channels * height * width
    parameters += features * hidden + hidden + hidden * n_actions + n_actions
    return parameters, activations + hidden + n_actions


def image_run_bytes(config: Config, obs_shape: tuple[int, ...], frame_stack: int, n_actions: int) -> tuple[int, int]:
    """(the replay's bytes, the whole run's) for image observations (C·frame_stack, H, W): each frame
    stored once, and checkpointed in segments rather than copied whole."""
    from cockpit.engine.frame_buffer import replay_bytes
    from cockpit.engine.observations import choose_network

    d = config.dqn
    channels, height, width = obs_shape
    replay = replay_bytes(d.buffer_size, (channels // frame_stack, height, width))
    network = choose_network(d.network, obs_shape)
    parameters, activations = cnn_sizes(network, obs_shape, n_actions, d.hidden_size)
    floats = parameters * NETWORK_COPIES + d.batch_size * activations * ACTIVATION_COPIES
    return replay, BASELINE_BYTES + replay + floats * FLOAT_BYTES


def run_bytes(config: Config, obs_dim: int, n_actions: int) -> int:
    """A generous estimate of one run's peak memory (vector observations; `image_run_bytes` for images)."""
    d = config.dqn
    network = network_parameters(obs_dim, n_actions, d.hidden_size, d.hidden_layers) * NETWORK_COPIES
    buffer = d.buffer_size * (2 * obs_dim + 3) * BUFFER_COPIES
    activations = d.batch_size * d.hidden_size * d.hidden_layers * ACTIVATION_COPIES
    return BASELINE_BYTES + (network + buffer + activations) * FLOAT_BYTES


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def cgroup_memory_files() -> list[tuple[Path, Path]]:
    """(limit, usage) files of this process's memory cgroup: v2 at its own path (a nested cgroup) and
    at the root as a container sees it, v1's memory controller."""
    root = Path("/sys/fs/cgroup")
    pairs = []
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            hierarchy, controllers, path = line.split(":", 2)
            if hierarchy == "0":
                pairs.append((root / path.lstrip("/") / "memory.max", root / path.lstrip("/") / "memory.current"))
            elif "memory" in controllers.split(","):
                v1 = root / "memory" / path.lstrip("/")
                pairs.append((v1 / "memory.limit_in_bytes", v1 / "memory.usage_in_bytes"))
    except (OSError, ValueError):
        pass
    pairs += [
        (root / "memory.max", root / "memory.current"),
        (root / "memory" / "memory.limit_in_bytes", root / "memory" / "memory.usage_in_bytes"),
    ]
    return pairs


def available_bytes() -> int | None:
    """MemAvailable, or what the cgroup's limit leaves where that is lower; None where neither is known."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    for limit_file, usage_file in cgroup_memory_files():
        limit = _read_int(limit_file)  # "max" (no limit) reads as None; v1's "no limit" is a huge number
        if limit is not None:
            found.append(max(0, limit - (_read_int(usage_file) or 0)))
    return min(found) if found else None


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_threads(config: Config) -> None:
    """More torch threads than cores only thrash (a thousand of them hung a machine). Checked where a
    run starts, not where a config is read back: a run made on a larger machine stays readable."""
    from cockpit.engine.config import ConfigError

    if config.run.threads > cores():
        raise ConfigError(
            f"run.threads = {config.run.threads}: expected an integer from 1 to {cores()} "
            "(the cores this process may use)"
        )


def check_replay(config: Config, obs_shape: tuple[int, ...], frame_stack: int) -> None:
    """An image replay rebuilds stacks from the frames it holds: it must hold more than one stack."""
    from cockpit.engine.config import ConfigError

    size = config.dqn.buffer_size
    if len(obs_shape) == 3 and size <= frame_stack:
        raise ConfigError(
            f"dqn.buffer_size = {size:,}: an image replay must hold more frames than env.frame_stack "
            f"({frame_stack}) (expected at least {frame_stack + 1})"
        )


def check_memory(
    config: Config,
    obs_dim: int,
    n_actions: int,
    workers: int = 1,
    obs_shape: tuple[int, ...] = (),
    frame_stack: int = 1,
) -> None:
    """Refuse a run (or `workers` runs at once) that would not fit in the memory available now.
    `obs_shape` of three axes: an image run (EnvInfo.obs_shape, EnvInfo.frame_stack)."""
    from cockpit.engine.config import ConfigError

    available = available_bytes()
    if available is None:
        return
    image = len(obs_shape) == 3
    if image:
        replay, need = image_run_bytes(config, obs_shape, frame_stack, n_actions)
    else:
        need = run_bytes(config, obs_dim, n_actions)
    if need * workers <= available:
        return
    d = config.dqn
    runs = f"{workers} runs at once × {gib(need)}" if workers > 1 else gib(need)
    if image:
        raise ConfigError(
            f"dqn.buffer_size = {d.buffer_size:,}: the image replay needs {gib(replay)} (each frame stored once) "
            f"and the run about {runs} of memory, {gib(available)} available (expected a smaller dqn.buffer_size"
            + (", or fewer --workers)" if workers > 1 else ")")
        )
    raise ConfigError(
        f"dqn.hidden_size = {d.hidden_size}, dqn.hidden_layers = {d.hidden_layers}, dqn.buffer_size = {d.buffer_size:,}: "
        f"needs about {runs} of memory, {gib(available)} available (expected a smaller network or buffer"
        + (", or fewer --workers)" if workers > 1 else ")")
    )
