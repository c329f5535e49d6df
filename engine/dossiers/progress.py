"""Dossier statuses and the processing-control timeline follow the tasks of its process;
the deadline watch of its process asks here whether the dossier is overdue."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from engine.calendar import VN_TZ
from engine.dossiers.statuses import Status
from engine.dossiers.timeline import record_event
from engine.errors import ConflictError, InvalidInputError
from engine.runtime import hooks
from engine.runtime.instances import LoadedInstance, current_data
from engine.runtime.scripts import ServiceCall
from engine.runtime.services import DEFAULT_SERVICES, StepContext
from engine.workdays import calendar_for
from storage.models import (
    Dossier,
    DossierEvent,
    Notification,
    Procedure,
    User,
    UserRole,
    WorkflowInstance,
    WorkflowTask,
    utcnow,
)

__all__ = [
    "RETURN_FORM",
    "RETURN_METHODS",
    "TASK_STATUS",
    "dossier_deadline",
    "make_pending_apologies",
]

# User task id → the national status the dossier reaches when that task is done.
TASK_STATUS: dict[str, int] = {
    "receive": Status.PROCESSING,
    "issue_result": Status.FINISHED,
    "return_result": Status.RETURNED,
}
# How the result reaches the applicant (`returned_by` of the return form), as the form names
# it. Non-boundary reception (Decree 118/2025) returns it where it was received or by post.
RETURN_METHODS: Final[dict[str, str]] = {
    "counter": "Tại quầy",
    "post": "Qua bưu chính công ích",
    "online": "Trực tuyến",
}
RETURN_FORM: Final = "return_result.schema.json"
# session.info key: instances whose deadline passed in this unit of work, apology not yet made.
_PENDING_APOLOGIES: Final = "lienthong.pending_apologies"

log = logging.getLogger("lienthong.dossiers")


def _on_task_completed(
    session: Session, loaded: LoadedInstance, task: WorkflowTask, actor_id: int
) -> None:
    if not loaded.row.business_key:
        return
    dossier = session.scalar(select(Dossier).where(Dossier.instance_id == loaded.row.id))
    if dossier is None:
        return
    if dossier.status == Status.SUPPLEMENT:
        raise ConflictError(
            f"Hồ sơ {dossier.code} đang chờ công dân bổ sung giấy tờ; chỉ xử lý tiếp khi bộ phận "
            f"một cửa ghi nhận bổ sung / dossier {dossier.code} is waiting for the applicant's "
            "supplement; continue once the desk has recorded it",
            code="dossier_waiting_for_supplement",
        )
    now = utcnow()
    data = current_data(loaded.workflow)
    if dossier.refusal_reason is None and data.get("decision") == "refuse":
        # The approver refused to settle it (not eligible): the written refusal with this
        # reason becomes the result the desk returns.
        dossier.refusal_reason = str(data.get("refusal_reason") or "").strip()
        record_event(
            session,
            dossier,
            "refused",
            actor_id=actor_id,
            status=None,
            note=dossier.refusal_reason,
            details={"task": task.task_spec},
        )
    allowed = data.get("step_days", {}).get(task.task_spec)
    used = calendar_for(session).working_time_between(task.created_at, now) - _paused(
        session, dossier, task.created_at
    )
    day = calendar_for(session).day_length
    status = TASK_STATUS.get(task.task_spec)
    if status == Status.FINISHED:
        dossier.finished_at = now
    note, returned = task.name, {}
    if status == Status.RETURNED:
        dossier.returned_at = now
        dossier.finished_at = dossier.finished_at or now
        returned = _return_details(loaded, data, dossier.code)
        note = f"{task.name} — {_return_note(returned)}"
    record_event(
        session,
        dossier,
        "handover",
        actor_id=actor_id,
        status=status,
        note=note,
        details={
            **returned,
            "task": task.task_spec,
            "started_at": task.created_at.isoformat(),
            "allowed_days": allowed,
            "used_days": str(
                (Decimal(used.total_seconds()) / Decimal(day.total_seconds())).quantize(
                    Decimal("0.01")
                )
            ),
        },
    )


def _on_advanced(session: Session, loaded: LoadedInstance) -> None:
    # Processing is over once only the return is left: the liaison process has no
    # issue_result step, its last parallel step may end either branch, so it is read here,
    # after the engine ran. Timeliness counts to this moment, not to when the citizen
    # collects the result.
    if not loaded.row.business_key:
        return
    dossier = session.scalar(select(Dossier).where(Dossier.instance_id == loaded.row.id))
    if dossier is None or dossier.status != Status.PROCESSING:
        return
    ready = {
        t.task_spec.name
        for t in loaded.workflow.get_tasks(state=TaskState.READY)
        if t.task_spec.manual
    }
    if ready != {"return_result"}:
        return
    dossier.finished_at = utcnow()
    record_event(
        session,
        dossier,
        "processed",
        actor_id=None,
        status=Status.FINISHED,
        note="Đã xử lý xong, chờ trả kết quả / processed, the result waits to be returned",
    )


def _return_details(loaded: LoadedInstance, data: dict[str, Any], code: str) -> dict[str, str]:
    """`returned_by` and, by post, `postal_address` from the return form's data.

    Raises InvalidInputError when the result goes by post without an address to send it to.
    """
    method = str(data.get("returned_by") or "counter")
    address = str(data.get("postal_address") or "").strip()
    if method != "post":
        return {"returned_by": method}
    # A process deployed before the form had the field cannot be asked for it.
    asks = "postal_address" in loaded.forms.get(RETURN_FORM, {}).get("properties", {})
    if not address and asks:
        raise InvalidInputError(
            f"Trả kết quả hồ sơ {code} qua bưu chính công ích cần địa chỉ nhận: điền "
            "postal_address, hoặc chọn trả tại quầy / returning the result of dossier "
            f"{code} by post needs the postal address: fill in postal_address, or choose "
            "returned_by=counter",
            code="postal_address_required",
            details=[{"field": "postal_address", "message": "required when returned_by is post"}],
        )
    return {"returned_by": method} | ({"postal_address": address} if address else {})


def _return_note(returned: dict[str, str]) -> str:
    label = RETURN_METHODS.get(returned["returned_by"], returned["returned_by"])
    address = returned.get("postal_address")
    return f"{label}: {address}" if address else label


def _paused(session: Session, dossier: Dossier, since: datetime) -> timedelta:
    """Working time the dossier spent waiting for supplements asked for since `since`."""
    waited = session.scalars(
        select(DossierEvent.details).where(
            DossierEvent.dossier_id == dossier.id, DossierEvent.kind == "supplemented"
        )
    )
    return sum(
        (
            timedelta(seconds=d["waited_seconds"])
            for d in waited
            if "requested_at" in d and datetime.fromisoformat(d["requested_at"]) >= since
        ),
        timedelta(0),
    )


def _dossier_of(session: Session, instance_id: int) -> Dossier | None:
    # By business key: a deadline already past fires while the instance is being started,
    # before the dossier knows its instance id.
    key = session.scalar(
        select(WorkflowInstance.business_key).where(WorkflowInstance.id == instance_id)
    )
    return session.scalar(select(Dossier).where(Dossier.code == key)) if key else None


@DEFAULT_SERVICES.register("dossier_deadline")
def dossier_deadline(call: ServiceCall) -> dict[str, Any]:
    """Service task of the deadline watch: is the dossier overdue now that its timer fired?

    `overdue` (the apology follows), `waiting` (a supplement is pending: the clock stands
    still until the `dossier_supplemented` signal), `moved` with the new `due_at` (waiting
    for a supplement pushed it later: the watch sleeps until then), or `closed`. A process
    that is not a dossier's is `overdue`, as the plain deadline timer was.
    """
    ctx: StepContext = call.context
    dossier = _dossier_of(ctx.session, ctx.instance_id)
    if dossier is None:
        return {"state": "overdue", "due_at": None}
    if dossier.status == Status.SUPPLEMENT:
        return {"state": "waiting", "due_at": None}
    if dossier.status not in (Status.ACCEPTED, Status.PROCESSING) or dossier.due_at is None:
        return {"state": "closed", "due_at": None}
    if dossier.due_at > utcnow():
        return {"state": "moved", "due_at": dossier.due_at.isoformat()}
    return {"state": "overdue", "due_at": dossier.due_at.isoformat()}


def _on_deadline(session: Session, instance_id: int, due_at: str | None) -> None:
    # The timer fires while the engine runs, before this step's tasks are written: at reception
    # of a dossier entered after its deadline (backdated), the process has no task rows yet;
    # when a completion wakes a late timer, the rows still show the step just done. So the
    # apology, which names the waiting steps and tells their holders, is made once the tasks
    # table shows where the dossier really waits: by reception right after starting the
    # process, else when the unit of work commits.
    pending: list[int] = session.info.setdefault(_PENDING_APOLOGIES, [])
    if instance_id not in pending:
        pending.append(instance_id)


def make_pending_apologies(session: Session) -> None:
    """Form 04, now, for every dossier whose deadline passed in this unit of work, once its
    process has written its task rows (reception calls it after starting the process, so that
    the answer shows the apology a later read would). Never raises: a failing apology is
    undone alone (a savepoint) and logged, and the unit of work goes on without it."""
    for instance_id in session.info.pop(_PENDING_APOLOGIES, ()):
        # A failing apology must not undo the unit of work that found the deadline passed
        # (a reception, the worker's timer round): it is logged, the rest commits.
        try:
            with session.begin_nested():
                _apologise(session, instance_id)
        except Exception:
            log.exception("form 04 for instance %s could not be made", instance_id)


@event.listens_for(Session, "before_commit")
def _apologise_pending(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: later steps of this unit of work may still write task rows
    make_pending_apologies(session)


@event.listens_for(Session, "after_transaction_end")
def _discard_pending(session: Session, transaction: SessionTransaction) -> None:
    # Rolled back or closed without committing: the timer's firing was undone with it.
    if transaction.parent is None:
        session.info.pop(_PENDING_APOLOGIES, None)


def _apologise(session: Session, instance_id: int) -> None:
    """Form 04 for an overdue dossier: a new appointment, the reason (the steps it waits at),
    and a notification to whoever holds them and to the official who received it."""
    dossier = _dossier_of(session, instance_id)
    if dossier is None or dossier.status not in (Status.ACCEPTED, Status.PROCESSING):
        return
    if dossier.due_at is not None and dossier.due_at > utcnow():
        return  # the due date moved later (a supplement); the watch re-arms on it
    procedure = session.scalar(select(Procedure).where(Procedure.code == dossier.procedure_code))
    extra = max(Decimal(1), (procedure.processing_days if procedure else Decimal(2)) / 2)
    calendar = calendar_for(session)
    assert dossier.due_at is not None
    dossier.new_due_at = calendar.add_working_days(max(dossier.due_at, utcnow()), extra)
    dossier.apology_reason = "Hồ sơ chưa giải quyết xong đúng hạn do đang chờ xử lý ở bước: " + (
        ", ".join(_open_steps(session, instance_id)) or "trả kết quả"
    )
    record_event(
        session,
        dossier,
        "apology",
        actor_id=None,
        note=dossier.apology_reason,
        details={
            "due_at": dossier.due_at.isoformat(),
            "new_due_at": dossier.new_due_at.isoformat(),
        },
    )
    # The official who received it answers to the applicant; whoever holds a step, for the delay.
    people = _responsible(session, instance_id) | (
        {dossier.received_by} if dossier.received_by else set()
    )
    for user_id in people:
        session.add(
            Notification(
                user_id=user_id,
                kind="overdue",
                dossier_code=dossier.code,
                text=f"Hồ sơ {dossier.code} đã quá hạn; đã lập phiếu xin lỗi, hẹn lại "
                f"{dossier.new_due_at.astimezone(VN_TZ):%d/%m/%Y %H:%M}",
            )
        )


def _open_steps(session: Session, instance_id: int) -> list[str]:
    return list(
        session.scalars(
            select(WorkflowTask.name).where(
                WorkflowTask.instance_id == instance_id, WorkflowTask.state == "ready"
            )
        )
    )


def _responsible(session: Session, instance_id: int) -> set[int]:
    """Whoever holds a waiting task: its assignee, or every official of its role and agency."""
    people: set[int] = set()
    for task in session.scalars(
        select(WorkflowTask).where(
            WorkflowTask.instance_id == instance_id, WorkflowTask.state == "ready"
        )
    ):
        if task.assignee_id is not None:
            people.add(task.assignee_id)
            continue
        people.update(
            session.scalars(
                select(User.id)
                .join(UserRole, UserRole.user_id == User.id)
                .where(
                    User.agency_id == task.agency_id,
                    UserRole.role == task.role,
                    User.is_active.is_(True),
                )
            )
        )
    return people


hooks.task_completed.append(_on_task_completed)
hooks.advanced.append(_on_advanced)
hooks.deadline_passed.append(_on_deadline)
