"""Process definitions: deploy a BPMN file as a new version, and load specs (cached)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import audit
from engine.errors import NotFoundError, WorkflowError
from engine.runtime.parser import ParsedProcess, parse_bpmn
from storage.models import ProcessDefinition

__all__ = [
    "DefinitionView",
    "deploy",
    "deploy_directory",
    "latest_definition",
    "load_definition",
    "list_definitions",
    "load_parsed",
]

# definition id -> (parsed spec, forms); checked against the row's sha256 on every use,
# since ids are only unique within one database.
_cache: dict[int, tuple[ParsedProcess, dict[str, Any]]] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class DefinitionView:
    id: int
    process_id: str
    name: str
    version: int
    sha256: str
    filename: str
    user_tasks: list[dict[str, Any]]


def _view(row: ProcessDefinition, parsed: ParsedProcess) -> DefinitionView:
    return DefinitionView(
        id=row.id,
        process_id=row.process_id,
        name=row.name,
        version=row.version,
        sha256=row.sha256,
        filename=row.filename,
        user_tasks=[
            {"id": t.id, "name": t.name, "lane": t.lane, "form": t.form} for t in parsed.user_tasks
        ],
    )


def deploy(
    session: Session,
    data: bytes,
    filename: str,
    forms: dict[str, Any],
    *,
    actor_id: int | None = None,
    known_services: frozenset[str] | None = None,
) -> tuple[DefinitionView, bool]:
    """Store a BPMN file as the next version of its process; returns (definition, created).

    The same bytes deployed twice give the existing version. Raises WorkflowError when the
    BPMN is invalid, a referenced form is missing, or a service task names an unknown
    function.
    """
    parsed = parse_bpmn(data, filename)
    missing = sorted({t.form for t in parsed.user_tasks if t.form and t.form not in forms})
    if missing:
        raise WorkflowError(
            f"{filename}: thiếu biểu mẫu {missing} / missing form schemas {missing}",
            code="bpmn_missing_form",
        )
    if known_services is not None and not parsed.service_operations <= known_services:
        unknown = sorted(parsed.service_operations - known_services)
        raise WorkflowError(
            f"{filename}: dịch vụ chưa đăng ký {unknown} / unknown service functions {unknown}",
            code="bpmn_unknown_service",
        )
    existing = session.scalar(
        select(ProcessDefinition).where(
            ProcessDefinition.process_id == parsed.process_id,
            ProcessDefinition.sha256 == parsed.sha256,
        )
    )
    if existing is not None:
        return _view(existing, parsed), False
    version = (
        session.scalar(
            select(func.max(ProcessDefinition.version)).where(
                ProcessDefinition.process_id == parsed.process_id
            )
        )
        or 0
    ) + 1
    used_forms = {t.form: forms[t.form] for t in parsed.user_tasks if t.form}
    row = ProcessDefinition(
        process_id=parsed.process_id,
        name=parsed.name,
        version=version,
        sha256=parsed.sha256,
        filename=Path(filename).name,
        bpmn_xml=data.decode("utf-8"),
        forms=used_forms,
        deployed_by=actor_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor_id,
        "deploy",
        "process_definition",
        row.id,
        {"process_id": row.process_id, "version": version, "sha256": row.sha256},
    )
    with _cache_lock:
        _cache[row.id] = (parsed, used_forms)
    return _view(row, parsed), True


def deploy_directory(
    session: Session, directory: Path, *, known_services: frozenset[str] | None = None
) -> list[tuple[DefinitionView, bool]]:
    """Deploy every `*.bpmn` under `directory` with the forms in `directory/forms`.

    Raises NotFoundError when the directory does not exist.
    """
    if not directory.is_dir():
        raise NotFoundError(
            f"Không có thư mục quy trình {directory} / no workflow directory {directory}",
            code="workflow_dir_missing",
        )
    forms = {
        p.name: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((directory / "forms").glob("*.json"))
    }
    return [
        deploy(session, p.read_bytes(), p.name, forms, known_services=known_services)
        for p in sorted(directory.rglob("*.bpmn"))
    ]


def load_parsed(session: Session, definition_id: int) -> tuple[ProcessDefinition, ParsedProcess]:
    """A definition row and its parsed spec; specs are parsed once per process and cached."""
    row, parsed, _ = load_definition(session, definition_id)
    return row, parsed


def load_definition(
    session: Session, definition_id: int
) -> tuple[ProcessDefinition, ParsedProcess, dict[str, Any]]:
    """A definition row (small columns), its parsed spec and its forms, cached by sha256."""
    row = session.get(ProcessDefinition, definition_id)
    if row is None:
        raise NotFoundError(
            f"Không có định nghĩa quy trình {definition_id} / No definition {definition_id}"
        )
    with _cache_lock:
        cached = _cache.get(definition_id)
    if cached is None or cached[0].sha256 != row.sha256:
        cached = (parse_bpmn(row.bpmn_xml.encode("utf-8"), row.filename), dict(row.forms))
        with _cache_lock:
            _cache[definition_id] = cached
    return row, cached[0], cached[1]


def latest_definition(session: Session, process_id: str) -> ProcessDefinition:
    """The newest deployed version of a process; raises NotFoundError."""
    row = session.scalar(
        select(ProcessDefinition)
        .where(ProcessDefinition.process_id == process_id)
        .order_by(ProcessDefinition.version.desc())
        .limit(1)
    )
    if row is None:
        raise NotFoundError(
            f"Chưa triển khai quy trình '{process_id}' / Process '{process_id}' is not deployed",
            code="process_not_deployed",
        )
    return row


def list_definitions(session: Session) -> list[DefinitionView]:
    """Every deployed version, newest first per process."""
    rows = session.scalars(
        select(ProcessDefinition).order_by(
            ProcessDefinition.process_id, ProcessDefinition.version.desc()
        )
    ).all()
    return [_view(row, load_parsed(session, row.id)[1]) for row in rows]
