"""Drawing an RGB frame in a terminal: one cell holds two pixels stacked, the upper one as the
foreground of '▀' and the lower one as its background."""

from __future__ import annotations

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text


def fit_frame(frame: np.ndarray, columns: int, rows: int) -> np.ndarray:
    """Nearest-neighbour resize keeping the aspect ratio, to at most columns × (2·rows) pixels."""
    height, width = frame.shape[:2]
    scale = min(columns / width, (2 * rows) / height)
    new_w, new_h = max(1, int(width * scale)), max(2, int(height * scale) // 2 * 2)
    ys = (np.arange(new_h) * height / new_h).astype(int)
    xs = (np.arange(new_w) * width / new_w).astype(int)
    return frame[ys][:, xs, :3]


def to_text(frame: np.ndarray) -> Text:
    """The frame as rich Text, ⌈height/2⌉ lines of '▀' cells; runs of equal cells share one span."""
    frame = np.asarray(frame[..., :3], dtype=np.uint8)
    if frame.shape[0] % 2:
        frame = np.concatenate([frame, frame[-1:]], axis=0)
    packed = (frame[..., 0].astype(np.int64) << 16) | (frame[..., 1].astype(np.int64) << 8) | frame[..., 2]
    text = Text()
    styles: dict[tuple[int, int], Style] = {}
    for y in range(0, frame.shape[0], 2):
        top, bottom = packed[y], packed[y + 1]
        changes = np.flatnonzero((top[1:] != top[:-1]) | (bottom[1:] != bottom[:-1])) + 1
        starts = np.concatenate([[0], changes])
        ends = np.concatenate([changes, [len(top)]])
        for start, end in zip(starts, ends, strict=False):
            key = (int(top[start]), int(bottom[start]))
            style = styles.get(key)
            if style is None:
                style = styles[key] = Style(color=_rgb(key[0]), bgcolor=_rgb(key[1]))
            text.append("▀" * (end - start), style)
        if y + 2 < frame.shape[0]:
            text.append("\n")
    return text


SHADES = " ░▒▓█"
"""Cells from dark to light, for a frame drawn without colour (NO_COLOR)."""


def to_shades(frame: np.ndarray) -> Text:
    """The frame without colour: one shade character per pair of pixel rows, by luminance."""
    frame = np.asarray(frame[..., :3], dtype=np.float32)
    if frame.shape[0] % 2:
        frame = np.concatenate([frame, frame[-1:]], axis=0)
    luma = (frame @ np.array([0.299, 0.587, 0.114], dtype=np.float32)) / 255.0
    cells = (luma[0::2] + luma[1::2]) / 2
    index = np.minimum((cells * len(SHADES)).astype(int), len(SHADES) - 1)
    return Text("\n".join("".join(SHADES[i] for i in row) for row in index))


def _rgb(packed: int) -> Color:
    return Color.from_rgb(packed >> 16, (packed >> 8) & 0xFF, packed & 0xFF)
