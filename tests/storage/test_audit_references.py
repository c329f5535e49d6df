"""Objects that rows other than files need (exchange evidence, prepared external signatures)
are migrated to S3 and checked like files."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.auth import principal_for
from engine.files import spool, store_file
from engine.fixity import check_store
from engine.storage_migrate import migrate_store
from storage.models import User
from storage.objects import LocalObjectStore, ObjectStore, key_for
from tests.conftest import S3Buckets
from tests.storage.conftest import Tamper, add_object_references

PACKAGE = b"<edXMLEnvelope>goi tin da nhan, luu lam chung cu</edXMLEnvelope>"
PREPARED = b"%PDF-1.7 da chuan bi cho chu ky tren thiet bi ngoai"


def _put(store: ObjectStore, data: bytes) -> str:
    key = key_for(hashlib.sha256(data).hexdigest())
    store.put(key, io.BytesIO(data), len(data))
    return key


def _read(store: ObjectStore, key: str) -> bytes:
    return b"".join(store.open(key))


def _evidence_and_signing(
    sessions: sessionmaker[Session], store: ObjectStore, tmp_path: Path
) -> tuple[str, str]:
    """A received package kept as evidence and a PDF waiting for an external signature."""
    package, prepared = _put(store, PACKAGE), _put(store, PREPARED)
    with sessions.begin() as s:
        user_id = s.scalar(select(User.id).where(User.username == "lanhdao"))
        assert user_id is not None
        me = principal_for(s, user_id)
        upload = spool([b"%PDF-1.4 ban goc"], limit=1 << 20, tmp_dir=tmp_path / "spool")
        source = store_file(s, store, upload, "goc.pdf", me)
        add_object_references(
            s, package=package, prepared=prepared, file_id=source.id, user_id=me.user_id,
            sha256=package[-64:], size=len(PACKAGE),
        )  # fmt: skip
    return package, prepared


def test_migrate_copies_evidence_packages_and_prepared_signatures_to_s3(
    sessions: sessionmaker[Session], s3_buckets: S3Buckets, tmp_path: Path
) -> None:
    local = LocalObjectStore(tmp_path / "local")
    package, prepared = _evidence_and_signing(sessions, local, tmp_path)
    target = s3_buckets.store()
    report = migrate_store(sessions, local, target)
    assert (report.total, report.copied, report.failed) == (3, 3, [])
    assert _read(target, package) == PACKAGE
    assert _read(target, prepared) == PREPARED  # finishing the external signature needs it
    assert check_store(sessions, target).healthy
    again = migrate_store(sessions, local, target)
    assert (again.copied, again.already_there) == (0, 3)


def test_check_reports_a_corrupt_evidence_package_and_a_missing_prepared_signature(
    sessions: sessionmaker[Session], object_store: ObjectStore, tamper: Tamper, tmp_path: Path
) -> None:
    package, prepared = _evidence_and_signing(sessions, object_store, tmp_path)
    tamper.overwrite(package, PACKAGE.replace(b"nhan", b"sua!"))
    tamper.remove(prepared)
    report = check_store(sessions, object_store)
    assert (report.checked, report.ok) == (3, 1)
    assert (report.corrupt, report.missing) == ([package], [prepared])
