"""Reception at the one-stop desk: accept, ask for a supplement, or refuse; start processing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from engine import audit
from engine.calendar import VN_TZ
from engine.catalogue import get_procedure
from engine.dossiers.codes import format_code, next_sequence
from engine.dossiers.competence import competent_agency
from engine.dossiers.progress import make_pending_apologies
from engine.dossiers.statuses import CHANNELS, Status
from engine.dossiers.timeline import record_event
from engine.errors import InvalidInputError, PermissionDeniedError
from engine.lunar import MAX_YEAR, MIN_YEAR
from engine.principal import Principal
from engine.runtime.instances import start_instance
from engine.workdays import calendar_for
from storage.models import Agency, Dossier, Procedure, utcnow

__all__ = ["Applicant", "Reception", "receive", "start_processing"]

# A received_at this far ahead of the clock is a typo, not a paper dossier entered late.
_CLOCK_SKEW = timedelta(minutes=5)
# The working-day calendar (its lunar holidays) covers these years only, in Vietnam time.
_FIRST_DAY = datetime(MIN_YEAR, 1, 1, tzinfo=VN_TZ)
_PAST_LAST_DAY = datetime(MAX_YEAR + 1, 1, 1, tzinfo=VN_TZ)


@dataclass(frozen=True)
class Applicant:
    full_name: str
    id_number: str
    phone: str
    email: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class Reception:
    procedure_code: str
    applicant: Applicant
    channel: str
    complete: bool
    missing_documents: list[str] = field(default_factory=list)
    received_at: datetime | None = None
    refusal_reason: str | None = None
    competent_agency: str | None = None


_ID_NUMBER = re.compile(r"^(\d{9}|\d{12})$")
_PHONE = re.compile(r"^\+?[0-9 .-]{8,20}$")


def _check_applicant(a: Applicant) -> None:
    problems = []
    if not a.full_name.strip():
        problems.append({"field": "applicant.full_name", "message": "required"})
    if not _ID_NUMBER.match(a.id_number):
        problems.append({"field": "applicant.id_number", "message": "9 or 12 digits"})
    if not _PHONE.match(a.phone):
        problems.append({"field": "applicant.phone", "message": "a phone number"})
    if problems:
        raise InvalidInputError(
            "Thông tin người nộp không hợp lệ (họ tên, số CCCD 12 số, điện thoại) / invalid "
            "applicant: " + ", ".join(p["field"] for p in problems),
            details=problems,
        )


def _check_complete(reception: Reception) -> None:
    # A desk official who lists missing items or a refusal reason meant "incomplete":
    # accepting the dossier anyway would start the clock and still print a supplement slip
    # (form 02), and a refusal would silently override "complete".
    given = {
        "missing_documents": reception.missing_documents,
        "refusal_reason": reception.refusal_reason,
    }
    fields = [name for name, value in given.items() if value]
    if not reception.complete and len(fields) == 2:
        # Refused or asked to complete, not both: form 02 for a refused dossier misleads.
        raise InvalidInputError(
            "Hồ sơ bị từ chối thì không yêu cầu bổ sung: gửi refusal_reason để từ chối, hoặc "
            "missing_documents để yêu cầu bổ sung / a refused dossier is not asked for more "
            "documents: send refusal_reason to refuse it, or missing_documents to ask for them",
            details=[{"field": f, "message": "not both"} for f in fields],
        )
    if reception.complete and fields:
        names = ", ".join(fields)
        raise InvalidInputError(
            "Hồ sơ đã đầy đủ thì không có giấy tờ còn thiếu hay lý do từ chối: gửi "
            f"complete=false để yêu cầu bổ sung hoặc từ chối, hoặc bỏ {names} / a complete "
            "dossier has no missing documents and no refusal reason: send complete=false to "
            f"ask for the documents or to refuse it, or leave {names} out",
            details=[{"field": f, "message": "only with complete=false"} for f in fields],
        )


def _check(reception: Reception, now: datetime) -> datetime:
    _check_applicant(reception.applicant)
    if reception.channel not in CHANNELS:
        raise InvalidInputError(
            f"Kênh tiếp nhận '{reception.channel}' không hợp lệ / unknown channel; use one of "
            f"{sorted(CHANNELS)}",
            details=[{"field": "channel", "message": f"one of {sorted(CHANNELS)}"}],
        )
    _check_complete(reception)
    if not reception.complete and not reception.refusal_reason and not reception.missing_documents:
        raise InvalidInputError(
            "Hồ sơ chưa đầy đủ phải liệt kê giấy tờ còn thiếu / an incomplete dossier must list "
            "the missing documents",
            details=[{"field": "missing_documents", "message": "required when complete is false"}],
        )
    received_at = reception.received_at or now
    if received_at.tzinfo is None:
        raise InvalidInputError(
            "received_at cần múi giờ / received_at needs a UTC offset",
            details=[{"field": "received_at", "message": "ISO 8601 with offset"}],
        )
    if received_at > now + _CLOCK_SKEW:
        raise InvalidInputError(
            "Thời điểm tiếp nhận không được ở tương lai / received_at cannot be in the future",
            details=[{"field": "received_at", "message": "in the future"}],
        )
    if not _FIRST_DAY <= received_at < _PAST_LAST_DAY:
        raise InvalidInputError(
            f"Thời điểm tiếp nhận phải trong các năm {MIN_YEAR}–{MAX_YEAR} (giờ Việt Nam), phạm "
            "vi của lịch ngày làm việc; hãy kiểm tra lại received_at / received_at must fall in "
            f"the years {MIN_YEAR}–{MAX_YEAR} (Vietnam time) that the working-day calendar "
            "covers: check its year",
            details=[{"field": "received_at", "message": f"in the years {MIN_YEAR}–{MAX_YEAR}"}],
        )
    return received_at


def receive(session: Session, principal: Principal, reception: Reception) -> Dossier:
    """Register a dossier at the principal's agency and act on it.

    Complete → accepted, due date from the legal time, processing starts; incomplete →
    supplement requested, the clock waits; refusal reason → refused. Raises NotFoundError
    (procedure, competent agency), InvalidInputError (channel, missing list or refusal
    reason against `complete`, received_at in the future or outside the calendar's years,
    competent agency outside the province or of the wrong kind, or left out where the agency
    tree gives none or several equally near; see `engine.dossiers.competence`),
    PermissionDeniedError. A dossier already overdue gets its apology (form 04) here.
    """
    if not principal.has_role("reception"):
        raise PermissionDeniedError(
            "Cần vai trò tiếp nhận / reception role required", code="role_required"
        )
    now = utcnow()
    received_at = _check(reception, now)
    procedure = get_procedure(session, reception.procedure_code)
    receiving = session.get(Agency, principal.agency_id)
    assert receiving is not None
    competent = competent_agency(session, procedure, receiving, reception.competent_agency)
    day = received_at.astimezone(VN_TZ).date()
    code = format_code(receiving.code, day, next_sequence(session, receiving.id, day))
    dossier = Dossier(
        code=code,
        procedure_code=procedure.code,
        procedure_name=procedure.name,
        receiving_agency_id=receiving.id,
        competent_agency_id=competent.id,
        channel=reception.channel,
        applicant=vars(reception.applicant),
        status=Status.NEW,
        received_at=received_at,
        missing_documents=list(dict.fromkeys(reception.missing_documents)),
        received_by=principal.user_id,
    )
    session.add(dossier)
    session.flush()
    record_event(session, dossier, "registered", actor_id=principal.user_id, status=Status.NEW)
    if received_at < now - _CLOCK_SKEW:
        audit.record(
            session,
            principal.user_id,
            "backdated_reception",
            "dossier",
            code,
            {"received_at": received_at.isoformat()},
        )
    if reception.refusal_reason:
        dossier.refusal_reason = reception.refusal_reason
        record_event(
            session,
            dossier,
            "refused",
            actor_id=principal.user_id,
            status=Status.REFUSED,
            note=reception.refusal_reason,
        )
    elif not reception.complete:
        dossier.supplement_requests = 1
        record_event(
            session,
            dossier,
            "supplement_requested",
            actor_id=principal.user_id,
            status=Status.SUPPLEMENT,
            details={"missing": dossier.missing_documents},
        )
    else:
        start_processing(session, dossier, procedure, received_at, principal)
    audit.record(session, principal.user_id, "receive", "dossier", code)
    return dossier


def start_processing(
    session: Session, dossier: Dossier, procedure: Procedure, start: datetime, principal: Principal
) -> None:
    """Accept a complete dossier: due date from `start`, receipt event, its process started;
    already overdue, its apology (form 04) too."""
    calendar = calendar_for(session)
    dossier.due_at = calendar.add_working_days(start, procedure.processing_days)
    record_event(
        session,
        dossier,
        "accepted",
        actor_id=principal.user_id,
        status=Status.ACCEPTED,
        details={"due_at": dossier.due_at.isoformat()},
    )
    competent = session.get(Agency, dossier.competent_agency_id)
    assert competent is not None
    shares = {k: Decimal(str(v)) for k, v in procedure.step_shares.items()}
    data = {
        "dossier_code": dossier.code,
        "due_at": dossier.due_at.isoformat(),
        "competent_agency": competent.code,
        "step_days": {
            k: str((procedure.processing_days * v).quantize(Decimal("0.01")))
            for k, v in shares.items()
        },
    }
    loaded = start_instance(
        session,
        procedure.process_id,
        agency_id=dossier.receiving_agency_id,
        data=data,
        business_key=dossier.code,
        actor_id=principal.user_id,
    )
    dossier.instance_id = loaded.row.id
    # A dossier received after its deadline (backdated) is overdue from the start: its
    # apology is made now, in this unit of work, so the answer shows it as a read would.
    make_pending_apologies(session)
