"""What the S3 backend checks on the server: that an existing object holds the bytes its key
names, and (at start) that the archive bucket can keep records under retention."""

from __future__ import annotations

import hashlib
from typing import BinaryIO, Protocol

from storage.objects import CHUNK

__all__ = ["Rewindable", "md5_hex"]


class Rewindable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def tell(self) -> int: ...


def md5_hex(source: Rewindable | BinaryIO) -> str:
    """The MD5 of what is left of `source`, which is then rewound to where it was.

    A single-part PutObject gets this as its ETag: a stored object whose ETag is the MD5 of
    our bytes needs no download to be trusted.
    """
    start = source.tell()
    digest = hashlib.md5(usedforsecurity=False)
    while chunk := source.read(CHUNK):
        digest.update(chunk)
    source.seek(start)
    return digest.hexdigest()
