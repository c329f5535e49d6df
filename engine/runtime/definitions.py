"""Process definitions: deploy a BPMN file as a new version, and load specs (cached).

A version is identified by the BPMN file's SHA-256 together with the SHA-256 of the forms
its user tasks use: changing only a form and deploying again makes a new version.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import audit
from engine.errors import NotFoundError, WorkflowError
from engine.runtime.forms import check_form_schema
from engine.runtime.parser import ParsedProcess, parse_bpmn
from engine.runtime.sandbox import ScriptRejected, check_script
from storage.models import ProcessDefinition

__all__ = [
    "DefinitionView",
    "deploy",
    "deploy_directory",
    "forms_sha256",
    "latest_definition",
    "load_definition",
    "list_definitions",
    "load_parsed",
]


@dataclass(frozen=True)
class _Cached:
    identity: tuple[str, str]  # (sha256, forms_sha256) of the row it was built from
    parsed: ParsedProcess
    forms: dict[str, Any]


# definition id -> parsed spec and forms; checked against the row's two hashes on every
# use, since ids are only unique within one database, and after a deploy rolled back here
# another process may give its id to another version (same BPMN, other forms).
_cache: dict[int, _Cached] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class DefinitionView:
    id: int
    process_id: str
    name: str
    version: int
    sha256: str
    forms_sha256: str
    filename: str
    user_tasks: list[dict[str, Any]]


def _view(row: ProcessDefinition, parsed: ParsedProcess) -> DefinitionView:
    return DefinitionView(
        id=row.id,
        process_id=row.process_id,
        name=row.name,
        version=row.version,
        sha256=row.sha256,
        forms_sha256=row.forms_sha256,
        filename=row.filename,
        user_tasks=[
            {"id": t.id, "name": t.name, "lane": t.lane, "form": t.form} for t in parsed.user_tasks
        ],
    )


def forms_sha256(forms: dict[str, Any]) -> str:
    """The SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of a version's forms."""
    canonical = json.dumps(forms, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _code_sites(parsed: ParsedProcess) -> Iterator[tuple[str, str, str]]:
    """(task id, code, mode) of every script and expression the runtime will evaluate,
    beyond those the parser checks (script tasks, conditions, timers)."""
    for spec in (parsed.spec, *parsed.subprocess_specs.values()):
        for ts in spec.task_specs.values():
            for attr in ("prescript", "postscript", "script"):
                code = getattr(ts, attr, None)
                if isinstance(code, str):
                    yield ts.name, code, "exec"
            params = getattr(ts, "operation_params", None) or {}
            values = [p.get("value") for p in params.values() if isinstance(p, dict)]
            event = getattr(ts, "event_definition", None)
            values += [getattr(ts, "cardinality", None), getattr(ts, "condition", None)]
            values.append(getattr(event, "expression", None))
            for code in values:
                if isinstance(code, str) and code.strip():
                    yield ts.name, code, "eval"


def _check_code(parsed: ParsedProcess, filename: str) -> None:
    for task, code, mode in _code_sites(parsed):
        try:
            check_script(code.strip(), mode)
        except ScriptRejected as e:
            raise WorkflowError(
                f"{filename}: mã trong '{task}' bị từ chối / code in '{task}' rejected: {e}",
                code="bpmn_script_rejected",
            ) from e


def _parse_checked(
    data: bytes, filename: str, forms: dict[str, Any], known_services: frozenset[str] | None
) -> ParsedProcess:
    parsed = parse_bpmn(data, filename)
    _check_code(parsed, filename)
    missing = sorted({t.form for t in parsed.user_tasks if t.form and t.form not in forms})
    if missing:
        raise WorkflowError(
            f"{filename}: thiếu biểu mẫu {missing} / missing form schemas {missing}",
            code="bpmn_missing_form",
        )
    for name in sorted({t.form for t in parsed.user_tasks if t.form}):
        check_form_schema(name, forms[name])
    if known_services is not None and not parsed.service_operations <= known_services:
        unknown = sorted(parsed.service_operations - known_services)
        raise WorkflowError(
            f"{filename}: dịch vụ chưa đăng ký {unknown} / unknown service functions {unknown}",
            code="bpmn_unknown_service",
        )
    return parsed


MAX_FILENAME = 255  # the column's length


def _stored_name(filename: str) -> str:
    """The upload's base name without control characters, cut to the column (keeps the
    extension)."""
    name = "".join(c for c in Path(filename.replace("\\", "/")).name if c.isprintable()).strip()
    name = name or "upload.bpmn"
    if len(name) <= MAX_FILENAME:
        return name
    suffix = Path(name).suffix[:16]
    return name[: MAX_FILENAME - len(suffix)] + suffix


def _utf8_text(data: bytes, filename: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise WorkflowError(
            f"{filename}: tệp BPMN phải được lưu ở mã UTF-8 (byte {e.start} không hợp lệ) / "
            f"the BPMN file must be saved as UTF-8 (invalid byte at {e.start}); "
            "save it again as UTF-8 and deploy",
            code="bpmn_encoding",
        ) from e


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

    The same bytes with the same forms (those its user tasks name) give the existing
    version; the same bytes with a changed form give a new one. Raises WorkflowError when the
    BPMN is invalid, a referenced form is missing, or a service task names an unknown
    function.
    """
    filename = _stored_name(filename)
    text = _utf8_text(data, filename)  # before parsing: the DTD check reads the bytes as ASCII
    parsed = _parse_checked(data, filename, forms, known_services)
    used_forms = {t.form: forms[t.form] for t in parsed.user_tasks if t.form}
    forms_hash = forms_sha256(used_forms)
    existing = session.scalar(
        select(ProcessDefinition).where(
            ProcessDefinition.process_id == parsed.process_id,
            ProcessDefinition.sha256 == parsed.sha256,
            ProcessDefinition.forms_sha256 == forms_hash,
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
    row = ProcessDefinition(
        process_id=parsed.process_id,
        name=parsed.name,
        version=version,
        sha256=parsed.sha256,
        forms_sha256=forms_hash,
        filename=filename,
        bpmn_xml=text,
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
        {
            "process_id": row.process_id,
            "version": version,
            "sha256": row.sha256,
            "forms_sha256": forms_hash,
        },
    )
    with _cache_lock:
        _cache[row.id] = _Cached((row.sha256, forms_hash), parsed, used_forms)
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
    forms = {p.name: _read_form(p) for p in sorted((directory / "forms").glob("*.json"))}
    return [
        deploy(session, p.read_bytes(), p.name, forms, known_services=known_services)
        for p in sorted(directory.rglob("*.bpmn"))
    ]


def _read_form(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise WorkflowError(
            f"Biểu mẫu {path.name} không phải JSON UTF-8 / form {path.name} is not UTF-8 JSON: {e}",
            code="form_invalid",
        ) from e


def load_parsed(session: Session, definition_id: int) -> tuple[ProcessDefinition, ParsedProcess]:
    """A definition row and its parsed spec; specs are parsed once per process and cached."""
    row, parsed, _ = load_definition(session, definition_id)
    return row, parsed


def load_definition(
    session: Session, definition_id: int
) -> tuple[ProcessDefinition, ParsedProcess, dict[str, Any]]:
    """A definition row (small columns), its parsed spec and its forms; raises NotFoundError.

    Cached by id, and used only while the row's BPMN and forms hashes still match.
    """
    row = session.get(ProcessDefinition, definition_id)
    if row is None:
        raise NotFoundError(
            f"Không có định nghĩa quy trình {definition_id} / No definition {definition_id}"
        )
    identity = (row.sha256, row.forms_sha256)
    with _cache_lock:
        cached = _cache.get(definition_id)
    if cached is None or cached.identity != identity:
        parsed = parse_bpmn(row.bpmn_xml.encode("utf-8"), row.filename)
        cached = _Cached(identity, parsed, dict(row.forms))
        with _cache_lock:
            _cache[definition_id] = cached
    return row, cached.parsed, cached.forms


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
