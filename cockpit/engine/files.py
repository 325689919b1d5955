"""Writing files so that a crash at any moment leaves either the old file or the new one."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WriteFailed(OSError):
    """A file of the run that could not be written (a full disk, a file-size limit, an I/O error):
    the run ends `failed` with this one line, the files before it intact."""

    def __str__(self) -> str:
        return self.strerror or "cannot write"


def write_failed(path: Path, error: BaseException) -> WriteFailed:
    """`error` (an OSError, or what torch makes of one) as one line naming the file and the free space."""
    if isinstance(error, OSError) and error.strerror:
        reason = error.strerror
    else:  # torch's writer reports a short write in its own words
        reason = "the write stopped short: a full disk or a file-size limit"
    try:
        free = f"; {shutil.disk_usage(Path(path).parent).free / 2**20:,.0f} MB free there"
    except OSError:
        free = ""
    return WriteFailed(getattr(error, "errno", None) or errno.EIO, f"cannot write {path} ({reason}{free})")


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to a temporary sibling, fsync, then rename over `path`; on failure the temporary goes
    and `path` keeps its old contents."""
    write_atomic_with(path, lambda f: f.write(data.encode() if isinstance(data, str) else data))


def write_atomic_with(path: Path, write: Callable[[BinaryIO], object], *, sync_dir: bool = True) -> None:
    """`write_atomic` for a writer that streams into the open file (a numpy array, say); `sync_dir`
    False leaves the directory's fsync to a caller that writes several files into it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise write_failed(path, e) from None
    if sync_dir:
        fsync_dir(path.parent)


def write_json_atomic(path: Path, obj: object) -> None:
    write_atomic(path, json.dumps(obj, indent=2, allow_nan=True) + "\n")
