"""Saving an episode's rgb_array frames as a GIF (Pillow, from the `render` extra)."""

from __future__ import annotations

import io
import os
import stat
import tempfile
from pathlib import Path

import numpy as np

from cockpit.engine.config import ConfigError
from cockpit.engine.files import WriteFailed, write_atomic


def check_output_file(path: str | Path, what: str) -> None:
    """Refuse an output file that cannot be written before the work that produces it: a directory, a
    device or other non-regular file (a rename would replace it), a missing folder, or one that refuses
    a new file (read-only, /proc). The probe is a temporary file made and removed at once, which also
    answers for root, whom permission bits do not stop. `what` names the file in the message (`--gif x.gif`)."""
    path = Path(path)
    expected = "expected a new or regular file in an existing, writable folder"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as e:
        raise ConfigError(f"{what}: cannot write here ({e.strerror}) ({expected})") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise ConfigError(f"{what}: is a directory ({expected})")
    if mode is not None and not stat.S_ISREG(mode):
        raise ConfigError(f"{what}: not a regular file ({expected})")
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(f"{what}: no folder {str(folder)!r} ({expected})")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=folder)
    except OSError as e:
        raise ConfigError(f"{what}: cannot write in {str(folder)!r} ({e.strerror}) ({expected})") from None
    os.close(fd)
    os.unlink(probe)


def check_pillow() -> None:
    try:
        import PIL  # noqa: F401 (only whether it is installed)
    except ImportError:
        raise ConfigError("--gif: Pillow is not installed (expected: pip install 'cockpit[render]')") from None


def save_gif(frames: list[np.ndarray], path: str | Path, fps: int = 30) -> Path:
    """Write the frames as a looping GIF, creating the folder (a run's `renders/`) where missing."""
    check_pillow()
    from PIL import Image

    if not frames:
        raise ConfigError(f"--gif {path}: the environment rendered no frames")
    images = [Image.fromarray(np.asarray(frame, dtype=np.uint8)) for frame in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{path}: cannot write the GIF ({e.strerror})") from None
    try:
        write_atomic(path, buffer.getvalue())
    except WriteFailed as e:  # already one line naming the file
        raise ConfigError(str(e)) from None
    return path
