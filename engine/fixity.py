"""The fixity check: re-hash every object a row needs and report the missing and corrupt
ones. The orphan sweep is `engine.storage_sweep`, the copy between stores
`engine.storage_migrate`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import audit
from engine.storage_references import digest, referenced_objects
from storage.models import StoredFile, utcnow
from storage.objects import ObjectMissingError, ObjectStore

__all__ = ["CheckReport", "Progress", "check_store"]

Progress = Callable[[int, int], None]


@dataclass
class CheckReport:
    checked: int = 0
    ok: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """True when nothing is missing or corrupt."""
        return not self.missing and not self.corrupt


def check_store(
    factory: sessionmaker[Session], store: ObjectStore, progress: Progress | None = None
) -> CheckReport:
    """Re-hash every object a row references (files, exchange evidence, prepared signatures);
    missing and corrupt ones are reported and audited."""
    objects = referenced_objects(factory)
    report = CheckReport()
    for i, obj in enumerate(objects, 1):
        report.checked += 1
        try:
            got = digest(store, obj.key, obj.archived)
        except ObjectMissingError:
            report.missing.append(obj.key)
        else:
            if obj.matches(got):
                report.ok += 1
            else:
                report.corrupt.append(obj.key)
        if progress:
            progress(i, len(objects))
    now = utcnow()
    with factory.begin() as s:
        for key in report.missing + report.corrupt:
            kind = "missing" if key in report.missing else "corrupt"
            audit.record(s, None, f"fixity_{kind}", "object", key)
        bad = set(report.missing + report.corrupt)
        for row in s.scalars(select(StoredFile).where(StoredFile.purged_at.is_(None))):
            if row.key not in bad:
                row.verified_at = now
    return report
