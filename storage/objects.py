"""The object store. The local-directory store is the embedded default; S3 comes next."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from storage.errors import ObjectStoreError

__all__ = ["LocalObjectStore", "ObjectStore"]


class ObjectStore:
    """What every backend offers; `ping` says whether the store answers."""

    name = "abstract"

    def ping(self) -> None:
        """Raise ObjectStoreError when the store cannot be written."""
        raise NotImplementedError


class LocalObjectStore(ObjectStore):
    """Objects as files under a root directory."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def ping(self) -> None:
        """Check the root exists and is writable; raises ObjectStoreError otherwise."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.root, prefix=".ping-")
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise ObjectStoreError(
                f"Kho tệp {self.root} không ghi được / the object store at {self.root} "
                f"is not writable: {e.strerror}"
            ) from e
