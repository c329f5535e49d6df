"""The worker's B-T → B-LTA job on a real database, object store, test PKI and TSA."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from engine.auth import principal_for
from engine.files import soft_delete, spool, store_file, store_system_file
from engine.principal import Principal
from engine.signature_upgrades import MAX_ATTEMPTS, Upgrader
from engine.signatures import add_trusted
from engine.signing_files import sign_stored_file
from engine.signing_keys import Pkcs12Material, SigningConfig, register_key
from signing.pades import PadesLevel, PadesSigner
from signing.report import Indication
from signing.trust import TrustSettings
from signing.validate import validate_pdf
from storage.models import SignatureUpgrade, StoredFile, User
from storage.objects import LocalObjectStore
from tests.pki import PASSWORD, PkiServer, TestPki
from tests.signing.conftest import key_of
from tests.signing.pdfs import make_pdf


def _principal(session: Session, username: str) -> Principal:
    return principal_for(session, session.scalar(select(User.id).where(User.username == username)))


def _setup(
    sessions: sessionmaker[Session], pki: TestPki, server: PkiServer, tmp: Path
) -> tuple[LocalObjectStore, str]:
    """Trust the PKI's root; the test's object store and TSA."""
    with sessions.begin() as s:
        pem = pki.root.cert.public_bytes(serialization.Encoding.PEM)
        add_trusted(s, pem, _principal(s, "admin"))
    return LocalObjectStore(tmp / "objects"), server.tsa_url(pki.kind)


def _b_t(pki: TestPki, tsa: str) -> bytes:
    """A one-page PDF the official signed at B-T."""
    return PadesSigner(key_of(pki, pki.official), PadesLevel.B_T, tsa_url=tsa).sign(make_pdf())


def _stored(sessions: sessionmaker[Session], store: LocalObjectStore, pdf: bytes, tmp: Path) -> str:
    with sessions.begin() as s:
        upload = spool([pdf], limit=len(pdf) + 1, tmp_dir=tmp)
        return store_file(s, store, upload, "qd.pdf", _principal(s, "lanhdao")).id


def _latest_bytes(
    sessions: sessionmaker[Session], store: LocalObjectStore, file_id: str
) -> tuple[int, bytes]:
    with sessions.begin() as s:
        root = s.get(StoredFile, file_id)
        assert root is not None
        row = s.scalars(
            select(StoredFile)
            .where(StoredFile.root_id == root.root_id)
            .order_by(StoredFile.version.desc())
        ).first()
        assert row is not None
        return row.version, b"".join(store.open(row.key))


def test_queued_b_t_file_becomes_a_b_lta_version_after_the_delay(
    sessions: sessionmaker[Session], pki_rsa: TestPki, pki_server: PkiServer, tmp_path: Path
) -> None:
    store, tsa = _setup(sessions, pki_rsa, pki_server, tmp_path)
    file_id = _stored(sessions, store, _b_t(pki_rsa, tsa), tmp_path)
    with sessions.begin() as s:  # every stored PDF is queued, once
        assert s.scalars(select(SignatureUpgrade.file_id)).all() == [file_id]
    waiting = Upgrader(sessions, store, tsa, timedelta(hours=1), tmp_path / "tmp")
    assert waiting.run_once() == 0  # signed just now: the CAs' revocation data may lag
    assert Upgrader(sessions, store, None, timedelta(0), tmp_path / "tmp").run_once() == 0

    job = Upgrader(sessions, store, tsa, timedelta(0), tmp_path / "tmp")
    assert job.run_once() == 1
    version, upgraded = _latest_bytes(sessions, store, file_id)
    assert version == 2
    report = validate_pdf(upgraded, TrustSettings.of([pki_rsa.root.cert], fetch=False))
    (sig,) = report.signatures
    assert sig.indication is Indication.TOTAL_PASSED and sig.pades_level == "B-LTA"
    with sessions.begin() as s:
        (row,) = s.scalars(select(SignatureUpgrade)).all()
        assert row.state == "done" and row.result_file_id is not None
    assert job.run_once() == 0  # nothing left


def test_a_tsa_that_does_not_answer_is_retried_then_given_up_with_the_reason(
    sessions: sessionmaker[Session], pki_rsa: TestPki, pki_server: PkiServer, tmp_path: Path
) -> None:
    store, tsa = _setup(sessions, pki_rsa, pki_server, tmp_path)
    file_id = _stored(sessions, store, _b_t(pki_rsa, tsa), tmp_path)
    dead = Upgrader(sessions, store, "http://127.0.0.1:9/tsa", timedelta(0), tmp_path / "tmp")
    assert dead.run_once() == 1
    with sessions.begin() as s:
        row = s.scalars(select(SignatureUpgrade)).one()
        assert (row.state, row.attempts) == ("pending", 1) and row.last_error
    assert dead.run_once() == 0  # backing off
    with sessions.begin() as s:
        s.execute(
            update(SignatureUpgrade).values(
                attempts=MAX_ATTEMPTS - 1, next_attempt_at=SignatureUpgrade.created_at
            )
        )
    assert dead.run_once() == 1
    with sessions.begin() as s:
        row = s.scalars(select(SignatureUpgrade)).one()
        assert row.state == "failed" and row.last_error
    assert _latest_bytes(sessions, store, file_id)[0] == 1  # nothing was written


def test_signing_at_b_t_on_the_server_queues_the_upgrade(
    sessions: sessionmaker[Session], pki_rsa: TestPki, pki_server: PkiServer, tmp_path: Path
) -> None:
    store, tsa = _setup(sessions, pki_rsa, pki_server, tmp_path)
    config = SigningConfig(secret_key="x" * 32, tmp_dir=tmp_path / "tmp", tsa_url=tsa)
    file_id = _stored(sessions, store, make_pdf(), tmp_path)
    with sessions.begin() as s:
        me = _principal(s, "lanhdao")
        material = Pkcs12Material(pki_rsa.pkcs12(pki_rsa.official, PASSWORD), PASSWORD)
        register_key(s, store, config, me, material)
    with sessions.begin() as s:
        view = sign_stored_file(s, store, config, file_id, _principal(s, "lanhdao"), level="B-T")
    with sessions.begin() as s:
        queued = s.scalars(select(SignatureUpgrade.file_id).order_by(SignatureUpgrade.id)).all()
        assert queued == [file_id, view.id]
    # The unsigned original's entry upgrades the chain's latest version; the signed one's
    # then finds it at B-LTA already.
    assert Upgrader(sessions, store, tsa, timedelta(0), tmp_path / "tmp").run_once() == 2
    assert _latest_bytes(sessions, store, file_id)[0] == 3
    with sessions.begin() as s:
        states = s.scalars(select(SignatureUpgrade.state).order_by(SignatureUpgrade.id)).all()
        assert states == ["done", "not_needed"]


def test_every_stored_pdf_is_examined_and_only_the_b_t_ones_are_upgraded(
    sessions: sessionmaker[Session], pki_rsa: TestPki, pki_server: PkiServer, tmp_path: Path
) -> None:
    store, tsa = _setup(sessions, pki_rsa, pki_server, tmp_path)
    key = key_of(pki_rsa, pki_rsa.official)
    unsigned = _stored(sessions, store, make_pdf(), tmp_path)
    b_b = _stored(sessions, store, PadesSigner(key, PadesLevel.B_B).sign(make_pdf()), tmp_path)
    broken = _stored(sessions, store, b"%PDF-1.7\n1 0 obj << /ByteRange [0 1", tmp_path)
    _stored(sessions, store, b"bien ban hop, khong phai PDF\n", tmp_path)  # not examined
    with sessions.begin() as s:
        # A package from another agency: stored by the system, examined all the same.
        upload = spool([PadesSigner(key, PadesLevel.B_T, tsa_url=tsa).sign(make_pdf())],
                       limit=10**7, tmp_dir=tmp_path)  # fmt: skip
        b_t = store_system_file(s, store, upload, "cv-den.pdf", agency_id=1, owner=None).id
        queued = s.scalars(select(SignatureUpgrade.file_id).order_by(SignatureUpgrade.id)).all()
        assert queued == [unsigned, b_b, broken, b_t]

    assert Upgrader(sessions, store, tsa, timedelta(0), tmp_path / "tmp").run_once() == 4
    with sessions.begin() as s:
        states = dict(s.execute(select(SignatureUpgrade.file_id, SignatureUpgrade.state)).all())
    assert states == {unsigned: "not_needed", b_b: "not_needed", broken: "not_needed", b_t: "done"}
    for file_id in (unsigned, b_b, broken):
        assert _latest_bytes(sessions, store, file_id)[0] == 1  # left as they were
    version, upgraded = _latest_bytes(sessions, store, b_t)
    (sig,) = validate_pdf(upgraded, TrustSettings.of([pki_rsa.root.cert])).signatures
    assert version == 2 and sig.pades_level == "B-LTA"


def test_a_stranger_signature_before_ours_does_not_keep_ours_from_b_lta(
    sessions: sessionmaker[Session],
    pki_rsa: TestPki,
    pki_ec: TestPki,
    pki_server: PkiServer,
    tmp_path: Path,
) -> None:
    # The ECDSA test PKI is another province's: not trusted here.
    store, tsa = _setup(sessions, pki_rsa, pki_server, tmp_path)
    theirs = _b_t(pki_ec, pki_server.tsa_url("ecdsa"))
    both = PadesSigner(key_of(pki_rsa, pki_rsa.seal), PadesLevel.B_T, tsa_url=tsa).sign(theirs)
    file_id = _stored(sessions, store, both, tmp_path)
    assert Upgrader(sessions, store, tsa, timedelta(0), tmp_path / "tmp").run_once() == 1
    with sessions.begin() as s:
        assert s.scalars(select(SignatureUpgrade.state)).all() == ["done"]
    version, upgraded = _latest_bytes(sessions, store, file_id)
    stranger, ours = validate_pdf(upgraded, TrustSettings.of([pki_rsa.root.cert])).signatures
    assert version == 2 and not stranger.trusted
    assert ours.indication is Indication.TOTAL_PASSED and ours.pades_level == "B-LTA"


def test_a_seal_added_after_an_upgrade_is_raised_too(
    sessions: sessionmaker[Session], pki_rsa: TestPki, pki_server: PkiServer, tmp_path: Path
) -> None:
    store, tsa = _setup(sessions, pki_rsa, pki_server, tmp_path)
    job = Upgrader(sessions, store, tsa, timedelta(0), tmp_path / "tmp")
    file_id = _stored(sessions, store, _b_t(pki_rsa, tsa), tmp_path)
    assert job.run_once() == 1
    version, upgraded = _latest_bytes(sessions, store, file_id)
    assert version == 2
    sealed = PadesSigner(key_of(pki_rsa, pki_rsa.seal), PadesLevel.B_T, tsa_url=tsa).sign(upgraded)
    with sessions.begin() as s:
        upload = spool([sealed], limit=len(sealed) + 1, tmp_dir=tmp_path)
        v2 = s.scalars(select(StoredFile.id).where(StoredFile.version == 2)).one()
        store_file(s, store, upload, "qd.pdf", _principal(s, "lanhdao"), previous_id=v2)
    assert job.run_once() == 1
    version, final = _latest_bytes(sessions, store, file_id)
    signatures = validate_pdf(final, TrustSettings.of([pki_rsa.root.cert])).signatures
    assert version == 4 and [s.pades_level for s in signatures] == ["B-LTA", "B-LTA"]
    assert all(s.indication is Indication.TOTAL_PASSED for s in signatures)


def test_a_deleted_file_is_not_brought_back_by_the_upgrade(
    sessions: sessionmaker[Session], pki_rsa: TestPki, pki_server: PkiServer, tmp_path: Path
) -> None:
    store, tsa = _setup(sessions, pki_rsa, pki_server, tmp_path)
    file_id = _stored(sessions, store, _b_t(pki_rsa, tsa), tmp_path)
    with sessions.begin() as s:
        soft_delete(s, file_id, _principal(s, "lanhdao"), "tải nhầm tệp")
    assert Upgrader(sessions, store, tsa, timedelta(0), tmp_path / "tmp").run_once() == 1
    with sessions.begin() as s:
        assert s.scalars(select(SignatureUpgrade.state)).all() == ["not_needed"]
        assert s.scalars(select(StoredFile.version)).all() == [1]
