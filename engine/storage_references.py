"""Which rows need which objects: what the fixity check re-hashes, the sweep keeps and the
migration copies."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from storage.models import ExchangeEvidence, ExternalSigning, StoredFile
from storage.objects import ObjectStore, content_sha256

__all__ = ["OTHER_REFERENCES", "REFERENCES", "Stored", "digest", "referenced_objects"]

# Objects in the main area that rows other than files point at: the raw packages kept as
# exchange evidence, and the PDFs prepared for an external signature.
OTHER_REFERENCES = (
    (select(ExchangeEvidence.object_key), ExchangeEvidence.object_key),
    (select(ExternalSigning.prepared_key), ExternalSigning.prepared_key),
)
# Every key a committed row still needs; the sweep keeps them all.
REFERENCES = (
    select(StoredFile.key).where(StoredFile.purged_at.is_(None)),
    *(query.where(column.is_not(None)) for query, column in OTHER_REFERENCES),
)


@dataclass(frozen=True)
class Stored:
    """One object a row needs, with what its bytes must be (None: not known)."""

    key: str
    archived: bool
    size: int | None
    sha256: str | None
    retain_until: datetime | None = None

    def matches(self, got: tuple[int, str]) -> bool:
        """True when the measured (size, SHA-256) is what the rows expect."""
        return self.size in (None, got[0]) and self.sha256 in (None, got[1])


def referenced_objects(factory: sessionmaker[Session]) -> list[Stored]:
    """Every object a row references: files (with the longest retention any of their rows
    asks for), then the main-area keys of `OTHER_REFERENCES`, checked against the SHA-256
    their content address names."""
    with factory.begin() as s:
        rows = s.execute(
            select(
                StoredFile.key,
                StoredFile.archived,
                StoredFile.size,
                StoredFile.sha256,
                func.max(StoredFile.retain_until),
            )
            .where(StoredFile.purged_at.is_(None))
            .group_by(StoredFile.key, StoredFile.archived, StoredFile.size, StoredFile.sha256)
        ).all()
        others = {
            key
            for query, column in OTHER_REFERENCES
            for key in s.scalars(query.where(column.is_not(None)))
        }
    found = [Stored(r[0], r[1], r[2], r[3], r[4]) for r in rows]
    files = {(o.key, o.archived) for o in found}
    found += [Stored(k, False, None, content_sha256(k)) for k in others if (k, False) not in files]
    return sorted(found, key=lambda o: (o.key, o.archived))


def digest(store: ObjectStore, key: str, archived: bool) -> tuple[int, str]:
    """The size and SHA-256 of the stored bytes; raises ObjectMissingError, StorageError."""
    sha256 = hashlib.sha256()
    size = 0
    for chunk in store.open(key, archive=archived):
        sha256.update(chunk)
        size += len(chunk)
    return size, sha256.hexdigest()
