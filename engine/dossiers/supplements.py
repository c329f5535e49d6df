"""Supplements (bổ sung hồ sơ): asked at the desk or during processing; the clock stops meanwhile.

At reception an incomplete dossier waits before its clock starts. During processing, the
official holding the dossier's current step may ask for a supplement: the dossier goes to
status 5, its steps cannot be completed, and the processing clock stops. When the desk
records the supplement, processing resumes at the same step and every deadline (the
appointment, the steps' due times) moves later by the working time spent waiting. The
deadline watch of the process is told by the `dossier_supplemented` signal, so the apology
(form 04) follows the moved due date (see `progress.dossier_deadline`). While it waits, the
dossier is judged by the moment its clock stopped, not by now (see `timeliness`).
"""

from __future__ import annotations

from datetime import timedelta

from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.spiff.specs.event_definitions import SignalEventDefinition
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.agencies import in_scope
from engine.calendar import WorkCalendar
from engine.catalogue import get_procedure
from engine.dossiers.reception import start_processing
from engine.dossiers.statuses import Status
from engine.dossiers.timeline import record_event
from engine.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from engine.principal import Principal
from engine.runtime.instances import advance, load_instance
from engine.workdays import calendar_for
from storage.models import (
    Agency,
    Dossier,
    DossierEvent,
    Notification,
    WorkflowInstance,
    WorkflowTask,
    utcnow,
)

__all__ = ["SUPPLEMENTED_SIGNAL", "request_supplement", "supplement"]

# The signal the one-stop processes' deadline watch waits for while a supplement is pending.
SUPPLEMENTED_SIGNAL = "dossier_supplemented"

_CLOSED = (Status.REFUSED, Status.WITHDRAWN, Status.SUSPENDED, Status.FINISHED, Status.RETURNED)


def _locked(session: Session, code: str) -> Dossier:
    # Row lock: a request and the desk's supplement for one dossier never interleave.
    dossier = session.scalar(select(Dossier).where(Dossier.code == code).with_for_update())
    if dossier is None:
        raise NotFoundError(f"Không có hồ sơ {code} / No dossier {code}", code="dossier_not_found")
    return dossier


def _held_step(session: Session, principal: Principal, dossier: Dossier) -> WorkflowTask | None:
    """The waiting step of the dossier's process the principal may act on, if any."""
    return session.scalars(
        select(WorkflowTask)
        .join(WorkflowInstance, WorkflowInstance.id == WorkflowTask.instance_id)
        .where(
            WorkflowTask.instance_id == dossier.instance_id,
            WorkflowTask.state == "ready",
            WorkflowTask.agency_id == principal.agency_id,
            WorkflowTask.role.in_(list(principal.roles)),
            (WorkflowTask.assignee_id.is_(None)) | (WorkflowTask.assignee_id == principal.user_id),
            WorkflowInstance.secrecy <= int(principal.clearance),
        )
        .order_by(WorkflowTask.id)
        .limit(1)
    ).first()


def _check_requestable(dossier: Dossier) -> None:
    code = dossier.code
    if dossier.status in _CLOSED:
        raise ConflictError(
            f"Hồ sơ {code} đã kết thúc; không thể yêu cầu bổ sung / dossier {code} is already "
            "closed; a supplement can no longer be requested",
            code="dossier_closed",
        )
    if dossier.status == Status.SUPPLEMENT:
        raise ConflictError(
            f"Hồ sơ {code} đang chờ bổ sung; hãy chờ bộ phận một cửa ghi nhận bổ sung trước / "
            f"dossier {code} is already waiting for a supplement; wait until the desk records it",
            code="supplement_already_pending",
        )
    if dossier.status != Status.PROCESSING:
        raise ConflictError(
            f"Hồ sơ {code} chưa ở bước giải quyết (trạng thái {dossier.status}) / dossier {code} "
            "is not being processed; the desk asks for missing documents at reception",
            code="dossier_not_processing",
        )


def request_supplement(
    session: Session,
    principal: Principal,
    code: str,
    missing_documents: list[str],
    note: str | None = None,
) -> Dossier:
    """The official holding the dossier's current step asks the applicant for missing documents.

    The dossier goes to status 5 and its processing clock stops until the desk records the
    supplement; the request-for-supplement slip (form 02) lists the new items, each once.
    Raises NotFoundError, InvalidInputError (no item), ConflictError (closed, not being
    processed, a supplement already pending), PermissionDeniedError (not holding its step).
    """
    missing = list(dict.fromkeys(m.strip() for m in missing_documents if m.strip()))
    if not missing:
        raise InvalidInputError(
            "Cần liệt kê giấy tờ còn thiếu / list the missing documents",
            details=[{"field": "missing_documents", "message": "at least one item"}],
        )
    dossier = _locked(session, code)
    _check_requestable(dossier)
    step = _held_step(session, principal, dossier)
    if step is None:
        raise PermissionDeniedError(
            f"Chỉ người đang giữ bước xử lý của hồ sơ {code} mới được yêu cầu bổ sung / only the "
            f"official holding the current processing step of dossier {code} may ask for a "
            "supplement",
            code="not_step_holder",
        )
    dossier.missing_documents = missing
    dossier.supplement_requests += 1
    assert dossier.due_at is not None  # a dossier being processed has its due date
    record_event(
        session,
        dossier,
        "supplement_requested",
        actor_id=principal.user_id,
        status=Status.SUPPLEMENT,
        note=note,
        details={
            "missing": missing,
            "stage": "processing",
            "task": step.task_spec,
            "due_at": dossier.due_at.isoformat(),
        },
    )
    _notify_desk(session, dossier, missing)
    audit.record(
        session,
        principal.user_id,
        "request_supplement",
        "dossier",
        code,
        {"missing": missing, "task": step.task_spec, "note": note},
    )
    return dossier


def _notify_desk(session: Session, dossier: Dossier, missing: list[str]) -> None:
    # The desk hands form 02 to the applicant (or sends it, for online dossiers).
    if dossier.received_by is not None:
        session.add(
            Notification(
                user_id=dossier.received_by,
                kind="supplement",
                dossier_code=dossier.code,
                text=f"Hồ sơ {dossier.code} cần bổ sung: {'; '.join(missing)}. Đã lập phiếu "
                "yêu cầu bổ sung (mẫu 02).",
            )
        )


def supplement(
    session: Session, principal: Principal, code: str, note: str | None = None
) -> Dossier:
    """The applicant brought what was missing (recorded by the receiving desk).

    At reception: the dossier is accepted and its clock starts now. During processing: it
    resumes where it stopped, every deadline moved later by the working time spent waiting.
    Raises NotFoundError, PermissionDeniedError, ConflictError (no supplement pending).
    """
    dossier = _locked(session, code)
    receiving = session.get(Agency, dossier.receiving_agency_id)
    assert receiving is not None
    if not principal.has_role("reception") or not in_scope(principal, receiving.path):
        raise PermissionDeniedError(
            "Chỉ bộ phận một cửa nơi nhận hồ sơ / only the receiving desk", code="role_required"
        )
    if dossier.status != Status.SUPPLEMENT:
        raise ConflictError(
            f"Hồ sơ {code} không chờ bổ sung (trạng thái {dossier.status}) / dossier {code} is "
            "not waiting for a supplement",
            code="no_supplement_pending",
        )
    if dossier.instance_id is None:
        record_event(session, dossier, "supplemented", actor_id=principal.user_id, note=note)
        procedure = get_procedure(session, dossier.procedure_code)
        start_processing(session, dossier, procedure, utcnow(), principal)
    else:
        _resume(session, principal, dossier, note)
    audit.record(session, principal.user_id, "supplement", "dossier", code, {"note": note})
    return dossier


def _resume(session: Session, principal: Principal, dossier: Dossier, note: str | None) -> None:
    requested_at = session.scalar(
        select(DossierEvent.at)
        .where(DossierEvent.dossier_id == dossier.id, DossierEvent.kind == "supplement_requested")
        .order_by(DossierEvent.id.desc())
        .limit(1)
    )
    instance_id = dossier.instance_id
    assert requested_at is not None and dossier.due_at is not None and instance_id is not None
    calendar = calendar_for(session)
    now = utcnow()
    waited = max(calendar.working_time_between(requested_at, now), timedelta(0))
    before = dossier.due_at
    _move_deadlines(session, calendar, dossier, instance_id, waited)
    assert dossier.due_at is not None
    record_event(
        session,
        dossier,
        "supplemented",
        actor_id=principal.user_id,
        status=Status.PROCESSING,
        note=note,
        details={
            "requested_at": requested_at.isoformat(),
            "waited_seconds": int(waited.total_seconds()),
            "waited_days": round(waited / calendar.day_length, 2),
            "due_at_before": before.isoformat(),
            "due_at": dossier.due_at.isoformat(),
        },
    )
    # Wake the deadline watch if it fired while the dossier waited; it re-arms on the new date.
    loaded = load_instance(session, instance_id, actor_id=principal.user_id)
    loaded.workflow.catch(BpmnEvent(SignalEventDefinition(SUPPLEMENTED_SIGNAL)))
    advance(session, loaded, actor_id=principal.user_id)


def _move_deadlines(
    session: Session, calendar: WorkCalendar, dossier: Dossier, instance_id: int, by: timedelta
) -> None:
    """The appointment, an apology's new appointment and the waiting steps' due times."""
    assert dossier.due_at is not None
    dossier.due_at = calendar.add_working_time(dossier.due_at, by)
    if dossier.new_due_at is not None:
        dossier.new_due_at = calendar.add_working_time(dossier.new_due_at, by)
    for step in session.scalars(
        select(WorkflowTask).where(
            WorkflowTask.instance_id == instance_id,
            WorkflowTask.state == "ready",
            WorkflowTask.due_at.is_not(None),
        )
    ):
        assert step.due_at is not None
        step.due_at = calendar.add_working_time(step.due_at, by)
