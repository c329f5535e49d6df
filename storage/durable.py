"""Writing files so that a crash or a power cut leaves the old content or the new, whole."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["fsync_dir", "make_dirs", "write_atomic"]


def fsync_dir(directory: Path) -> None:
    """Sync a directory, so the names just created, renamed or removed in it survive."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(directory: Path) -> None:
    """Create `directory` and any missing parents, each new entry synced into its parent."""
    if directory.is_dir():
        return
    make_dirs(directory.parent)
    with contextlib.suppress(FileExistsError):  # another writer made it meanwhile
        directory.mkdir()
    # Synced even when another writer made it: ours may commit before that writer syncs.
    fsync_dir(directory.parent)


def write_atomic(
    path: Path, data: bytes, *, prefix: str = ".tmp-", exclusive: bool = False
) -> bool:
    """Write `data` to `path` via a synced temp file (named with `prefix`) and a rename.

    With `exclusive`, an existing `path` is kept, even one another process creates at the
    same moment; returns whether this call wrote it.
    """
    make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if exclusive:
            try:
                os.link(tmp, path)  # atomic create-if-absent, unlike a rename
            except FileExistsError:
                return False
        else:
            os.replace(tmp, path)
        fsync_dir(path.parent)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
