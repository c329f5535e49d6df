"""Every BPMN file shipped in workflows/ runs to its end on the persisted runtime, and its
state round-trips through the serializer at every step."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.auth import principal_for
from engine.principal import Principal
from engine.runtime import serializer
from engine.runtime.instances import load_instance, start_instance
from engine.runtime.tasks import complete_task, inbox
from storage.models import Agency, Document, User, WorkflowInstance, WorkflowTask
from tests.conftest import WORKFLOWS

COMMUNE = "000.01.20.H99"
DEPARTMENT = "000.00.10.H99"
FAR_FUTURE = "2099-01-01T00:00:00+07:00"

# For each shipped process: start data, and the (user, task, data) steps to its end. A new
# BPMN file without a scenario here fails `test_every_shipped_bpmn_has_a_scenario`.
SCENARIOS: dict[str, tuple[dict[str, Any], list[tuple[str, str, dict[str, Any]]]]] = {
    "one_stop_standard": (
        {"due_at": FAR_FUTURE},
        [
            ("tiepnhan", "receive", {"comment": "Hồ sơ đủ thành phần"}),
            ("lanhdao", "assign", {"next_assignee": "chuyenvien"}),
            ("chuyenvien", "appraise", {"appraisal": "eligible"}),
            ("lanhdao", "approve", {"decision": "rework", "comment": "Bổ sung ý kiến"}),
            ("chuyenvien", "appraise", {"appraisal": "eligible"}),
            ("lanhdao", "approve", {"decision": "approve"}),
            ("vanthu", "issue_result", {"result_number": "12/GKS"}),
            ("tiepnhan", "return_result", {"returned_by": "counter"}),
        ],
    ),
    "one_stop_liaison_birth": (
        {"due_at": FAR_FUTURE},
        [
            ("tiepnhan", "receive", {}),
            ("chuyenvien", "appraise_birth", {"appraisal": "eligible"}),
            ("lanhdao", "approve_birth", {"decision": "approve"}),
            ("bhxh", "issue_insurance_card", {"card_number": "TE1010012345678"}),
            (
                "congan",
                "register_residence",
                {"residence_registered": True, "personal_id": "001226000123"},
            ),
            ("tiepnhan", "return_result", {"returned_by": "post"}),
        ],
    ),
    "document_outgoing": (
        {},
        [
            ("chuyenvien", "draft", {}),
            ("lanhdao", "review", {"decision": "return", "comment": "Sửa lại"}),
            ("chuyenvien", "draft", {}),
            ("lanhdao", "review", {"decision": "approve"}),
            ("lanhdao", "approve", {"decision": "approve", "next_assignee": "lanhdao"}),
            ("lanhdao", "sign_document", {"signed_file_id": "f"}),
            ("vanthu", "number", {}),
            ("vanthu", "seal", {"signed_file_id": "f"}),
        ],
    ),
    "document_incoming": (
        {"registered": False},
        [
            ("vanthu", "register", {"decision": "register"}),
            ("lanhdao", "direct", {"opinion": "Giao chuyên viên", "due_days": 3}),
            ("lanhdao", "assign", {"next_assignee": "chuyenvien"}),
            ("chuyenvien", "process", {"result": "Đã xử lý"}),
        ],
    ),
}


def _document(session: Session, agency: Agency) -> int:
    # The document processes' service tasks read the document the case is about.
    doc = Document(
        agency_id=agency.id,
        direction="outgoing",
        status="draft",
        type_name="Công văn",
        number=1,
        code_number="01",
        notation="UBND-VP",
        issued_date=date(2026, 11, 20),
        issuer_code=agency.code,
        issuer_name=agency.name,
        subject="Thử quy trình",
    )
    session.add(doc)
    session.flush()
    return doc.id


def _process_ids() -> list[str]:
    from engine.runtime.parser import parse_bpmn

    return sorted(parse_bpmn(p.read_bytes(), p.name).process_id for p in WORKFLOWS.rglob("*.bpmn"))


def test_every_shipped_bpmn_has_a_scenario() -> None:
    assert _process_ids() == sorted(SCENARIOS)


def _principal(session: Session, username: str) -> Principal:
    return principal_for(session, session.scalar(select(User.id).where(User.username == username)))


def _assert_round_trip(session: Session, instance_id: int) -> None:
    row = session.get(WorkflowInstance, instance_id)
    assert row is not None
    loaded = load_instance(session, instance_id)
    again = serializer.dumps(loaded.workflow)
    assert again == row.state, "state changed by a serializer round trip"
    assert "task_specs" not in row.state, "the spec must not be stored in the instance"


@pytest.mark.parametrize("process_id", sorted(SCENARIOS))
def test_shipped_process_runs_to_end_with_round_trips(
    process_id: str, sessions: sessionmaker[Session]
) -> None:
    start_data, steps = SCENARIOS[process_id]
    with sessions.begin() as s:
        agency = s.scalar(select(Agency).where(Agency.code == COMMUNE))
        assert agency is not None
        if process_id.startswith("document_"):
            start_data = start_data | {"document_id": _document(s, agency)}
        instance_id = start_instance(s, process_id, agency_id=agency.id, data=start_data).row.id
    with sessions.begin() as s:
        _assert_round_trip(s, instance_id)
    for username, task_spec, data in steps:
        with sessions.begin() as s:
            me = _principal(s, username)
            mine, _ = inbox(s, me, limit=200)
            match = [t for t in mine if t.instance_id == instance_id and t.task == task_spec]
            assert match, f"{task_spec} is not in {username}'s inbox: {[t.task for t in mine]}"
            complete_task(s, match[0].id, me, data)
        with sessions.begin() as s:
            _assert_round_trip(s, instance_id)
    with sessions.begin() as s:
        row = s.get(WorkflowInstance, instance_id)
        assert row is not None and row.status == "completed"
        assert row.next_timer_at is None
        open_tasks = s.scalars(
            select(WorkflowTask).where(
                WorkflowTask.instance_id == instance_id, WorkflowTask.state == "ready"
            )
        ).all()
        assert open_tasks == []


def test_catalogue_procedures_name_deployed_processes(sessions: sessionmaker[Session]) -> None:
    from engine.procedures import load_catalogue
    from engine.runtime.definitions import latest_definition, load_parsed

    with sessions.begin() as s:
        for spec in load_catalogue(Path(WORKFLOWS / "catalogue")):
            _, parsed = load_parsed(s, latest_definition(s, spec.process_id).id)
            assert set(spec.step_shares) == {t.id for t in parsed.user_tasks}, spec.code
