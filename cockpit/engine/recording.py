"""Saving an episode's rgb_array frames as a GIF (Pillow, from the `render` extra)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from cockpit.engine.config import ConfigError
from cockpit.engine.files import write_atomic


def save_gif(frames: list[np.ndarray], path: str | Path, fps: int = 30) -> Path:
    try:
        from PIL import Image
    except ImportError:
        raise ConfigError("--gif: Pillow is not installed (expected: pip install 'cockpit[render]')") from None
    if not frames:
        raise ConfigError(f"--gif {path}: the environment rendered no frames")
    images = [Image.fromarray(np.asarray(frame, dtype=np.uint8)) for frame in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, buffer.getvalue())
    return path
