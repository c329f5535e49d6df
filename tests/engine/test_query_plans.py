"""Queries on the request path that must stay index lookups as the tables grow, on both
databases: a scan here slows every request as a province's registers fill up.

An agency gets thousands of letters a year from the same issuer (its province's people's
committee): a duplicate check that scanned them took 7 ms at 20,000 letters on SQLite,
against 0.4 ms as a seek. Every completed task looks its dossier up by instance; every
document list is over the agency's documents, not the node's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session, sessionmaker

from engine.auth import principal_for
from engine.documents.drafting import find_duplicate
from engine.documents.reading import DocumentFilter, list_documents
from engine.documents.reading import _files as document_files
from engine.dossiers.reading import list_dossiers
from engine.dossiers.register import register_rows
from engine.dossiers.stats import timeliness_stats
from storage.models import Agency, Document, Dossier, User

ISSUER = "000.00.00.H99"


def test_the_duplicate_check_of_incoming_letters_seeks_an_index(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as s:
        agency_id = s.scalars(select(Agency.id).order_by(Agency.id)).first()
        s.execute(
            text(
                "INSERT INTO documents (recipients, to_places, agency_id, direction, status, "
                "type_name, register, year, number, code_number, notation, issuer_code, "
                "issuer_name, subject, language, pages, urgency, secrecy, copies, created_at) "
                "VALUES ('[]', '[]', :a, 'incoming', 'received', 'Công văn', 'incoming', 2026, "
                ":n, :code, 'UBND-VP', :issuer, 'UBND', 's', 'vi', 1, 0, 0, 1, '2026-01-02')"
            ),
            [{"a": agency_id, "n": n, "code": f"{n:03d}", "issuer": ISSUER} for n in range(1, 301)],
        )
    with sessions() as s:
        assert find_duplicate(s, agency_id, ISSUER, "7", "ubnd-vp") is not None
        assert find_duplicate(s, agency_id, ISSUER, "0301", "UBND-VP") is None
        with captured_statements(engine) as seen:
            find_duplicate(s, agency_id, ISSUER, "42", "UBND-VP")
    ((statement, params),) = [(q, p) for q, p in seen if "FROM documents" in q]
    assert "ix_documents_duplicates" in plan_of(engine, statement, params)


def test_cases_are_found_by_instance_and_listed_by_agency(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    with sessions() as s:
        principal = principal_for(
            s, s.scalars(select(User.id).where(User.username == "vanthu")).one()
        )
        with captured_statements(engine) as seen:
            s.scalar(select(Dossier).where(Dossier.instance_id == 1))
            list_documents(s, principal, DocumentFilter(direction="incoming"), limit=20, offset=0)
            document_files(s, Document(id=1))  # what each listed document shows of its files
            list_dossiers(s, principal, limit=20, offset=0)
    (by_instance, count, page, files, dossier_count, dossier_page) = seen
    for statement, params in (dossier_count, dossier_page):
        plan = plan_of(engine, statement, params)
        assert "SCAN dossiers" not in plan and "Seq Scan on dossiers" not in plan, plan
    assert "ix_dossiers_instance_id" in plan_of(engine, *by_instance)
    for statement, params in (count, page):
        plan = plan_of(engine, statement, params)
        assert "SCAN documents" not in plan and "Seq Scan on documents" not in plan, plan
    plan = plan_of(engine, *files)
    assert "SCAN files" not in plan and "Seq Scan on files" not in plan, plan


def test_statistics_and_the_register_find_an_agencys_dossiers_by_index(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    """Counting and listing the dossiers a department received or decides: each a UNION of
    index lookups (receiving agency, competent agency), never a scan of the node's dossiers."""
    with sessions() as s:
        principal = principal_for(
            s, s.scalars(select(User.id).where(User.username == "lanhdao.so")).one()
        )
        start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
        with captured_statements(engine) as seen:
            timeliness_stats(s, principal, start=start, end=end)
            register_rows(s, principal, start, end)
    # The counts; the rows, their competent agencies' names and their processes' steps.
    queries = [(q, p) for q, p in seen if "FROM dossiers" in q]
    assert len(queries) == 4, queries
    for statement, params in queries:
        plan = plan_of(engine, statement, params)
        assert not re.search(r"SCAN (dossiers|tasks)\b", plan), plan
        assert not re.search(r"Seq Scan on (dossiers|tasks)\b", plan), plan


@contextmanager
def captured_statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements and parameters `engine` runs inside the block, in order."""
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def plan_of(engine: Engine, statement: str, params: Any) -> str:
    """The database's plan for `statement` (PostgreSQL: with sequential scans off)."""
    with engine.connect() as conn:
        cur = conn.connection.driver_connection.cursor()
        if engine.dialect.name == "sqlite":
            cur.execute(f"EXPLAIN QUERY PLAN {statement}", params)
        else:  # small test tables would be scanned anyway; is an index usable at all?
            cur.execute("ANALYZE")
            cur.execute("SET LOCAL enable_seqscan = off")
            cur.execute(f"EXPLAIN {statement}", params)
        plan = " ".join(str(row) for row in cur.fetchall())
        conn.rollback()
    return plan


def test_a_file_is_found_by_its_previous_version_and_an_object_by_its_key(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    from storage.models import ExchangeEvidence, ExternalSigning, StoredFile

    queries = [
        # Has this version been superseded? (every signing step asks)
        (select(StoredFile.id).where(StoredFile.previous_id == "x"), "files"),
        # Does another row still need this object? (a purge asks, per key)
        (select(StoredFile.id).where(StoredFile.key == "sha256/ab/x"), "files"),
        (
            select(ExchangeEvidence.id).where(ExchangeEvidence.object_key == "k"),
            "exchange_evidence",
        ),
        (
            select(ExternalSigning.id).where(ExternalSigning.prepared_key == "k"),
            "external_signings",
        ),
    ]
    for query, table in queries:
        compiled = query.compile(engine)
        params = (
            compiled.params
            if engine.dialect.name != "sqlite"
            else tuple(compiled.params[k] for k in compiled.positiontup or ())
        )
        plan = plan_of(engine, str(compiled), params)
        assert not re.search(rf"SCAN {table}\b|Seq Scan on {table}\b", plan), plan
