"""The dossier tracking register (Sổ theo dõi hồ sơ, form 06 of Circular 01/2018/TT-VPCP) as
CSV or XLSX for a period.

The form's columns come first, in its order; after them the machine-friendly columns the
export carried before (procedure code, channel, processing finished, status, progress), so
a spreadsheet can still filter and count by them. Times are Vietnam time, dd/mm/yyyy HH:MM.
"Ký nhận" stays empty: it is the applicant's signature on the printed register.

"Chuyển hồ sơ đến cơ quan giải quyết" and "Nhận kết quả từ cơ quan giải quyết" are read from
the dossier's process: the moment its first step reached an agency other than the receiving
one (the competent agency of a non-boundary dossier, the police of a liaison one), and the
moment the result came back to the receiving desk once every step out there was done. A
dossier handled at the desk's own agency throughout leaves both empty.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar import VN_TZ
from engine.dossiers.access import readable_ids, subtree_ids
from engine.dossiers.statuses import CHANNEL_NAMES, STATUS_NAMES
from engine.dossiers.timeliness import VERDICT_NAMES, timeliness_verdict
from engine.errors import InvalidInputError
from engine.principal import Principal
from engine.tables import table_csv, table_xlsx
from storage.models import Agency, Dossier, WorkflowTask

__all__ = ["REGISTER_COLUMNS", "REGISTER_TITLE", "register_csv", "register_rows", "register_xlsx"]

REGISTER_TITLE: Final = "Sổ theo dõi hồ sơ"
REGISTER_COLUMNS: Final = [
    # Form 06, in its order.
    "STT",
    "Mã hồ sơ",
    "Tên TTHC",
    "Số lượng hồ sơ (bộ)",
    "Tên cá nhân, tổ chức",
    "Địa chỉ, số điện thoại",
    "Cơ quan chủ trì giải quyết",
    "Nhận hồ sơ",
    "Hẹn trả kết quả",
    "Chuyển hồ sơ đến cơ quan giải quyết",
    "Nhận kết quả từ cơ quan giải quyết",
    "Trả kết quả",
    "Ký nhận",
    "Ghi chú",
    # For spreadsheets: codes and states the form does not print.
    "Mã TTHC",
    "Kênh tiếp nhận",
    "Ngày xử lý xong",
    "Trạng thái",
    "Tiến độ",
]


def _vn(t: datetime | None) -> str:
    return t.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M") if t else ""


def _away_and_back(
    tasks: list[WorkflowTask], receiving_id: int
) -> tuple[datetime | None, datetime | None]:
    """When the dossier first reached another agency, and when its result came back to the
    receiving agency (its first task there after the last one elsewhere, none still open)."""
    away = [t for t in tasks if t.agency_id != receiving_id]
    if not away:
        return None, None
    sent = min(t.created_at for t in away)
    if any(t.state == "ready" for t in away):
        return sent, None
    last_away = max(t.created_at for t in away)
    back = min(
        (t.created_at for t in tasks if t.agency_id == receiving_id and t.created_at > last_away),
        default=None,
    )
    return sent, back


def _contact(applicant: dict[str, object]) -> str:
    parts = (str(applicant.get(k) or "").strip() for k in ("address", "phone"))
    return "; ".join(p for p in parts if p)


def _note(d: Dossier) -> str:
    notes = []
    if d.new_due_at is not None:
        notes.append(f"Hẹn lại ngày trả kết quả: {_vn(d.new_due_at)} (phiếu xin lỗi)")
    if d.refusal_reason:
        notes.append(f"Từ chối: {d.refusal_reason}")
    return "; ".join(notes)


def register_rows(
    session: Session, principal: Principal, start: datetime, end: datetime
) -> list[list[str]]:
    """Form 06 rows: the dossiers the principal's agency subtree received or decides (each
    once), received in [start, end), that the principal may read (the register names the
    applicant; see `engine.dossiers.access`). Raises InvalidInputError when `end` is not
    after `start`."""
    if end <= start:
        raise InvalidInputError(
            "'to' phải sau 'from' / 'to' must be after 'from'",
            details=[{"field": "to", "message": "before from"}],
        )
    period = (
        Dossier.id.in_(subtree_ids(principal.agency_path)),
        Dossier.id.in_(readable_ids(principal)),
        Dossier.received_at >= start,
        Dossier.received_at < end,
    )
    rows = session.execute(
        select(Dossier, timeliness_verdict())
        .where(*period)
        .order_by(Dossier.received_at, Dossier.id)
    ).all()
    # Subqueries, not lists of ids: a year's register may hold more dossiers than a
    # statement may have parameters.
    names = {
        agency_id: name
        for agency_id, name in session.execute(
            select(Agency.id, Agency.name).where(
                Agency.id.in_(select(Dossier.competent_agency_id).where(*period))
            )
        )
    }
    tasks: defaultdict[int, list[WorkflowTask]] = defaultdict(list)
    for task in session.scalars(
        select(WorkflowTask)
        .where(WorkflowTask.instance_id.in_(select(Dossier.instance_id).where(*period)))
        .order_by(WorkflowTask.id)
    ):
        tasks[task.instance_id].append(task)
    out = []
    for i, (d, verdict) in enumerate(rows, 1):
        sent, back = _away_and_back(tasks[d.instance_id or 0], d.receiving_agency_id)
        out.append(
            [
                str(i),
                d.code,
                d.procedure_name,
                "1",  # one dossier, one set of papers
                str(d.applicant.get("full_name", "")),
                _contact(d.applicant),
                names.get(d.competent_agency_id, ""),
                _vn(d.received_at),
                _vn(d.due_at),
                _vn(sent),
                _vn(back),
                _vn(d.returned_at),
                "",
                _note(d),
                d.procedure_code,
                CHANNEL_NAMES.get(d.channel, d.channel),
                _vn(d.finished_at),
                STATUS_NAMES[d.status],
                VERDICT_NAMES.get(verdict, verdict),
            ]
        )
    return out


def register_csv(rows: list[list[str]]) -> bytes:
    """The register as CSV (UTF-8 with BOM so spreadsheet programs read the diacritics)."""
    return table_csv(REGISTER_COLUMNS, rows)


def register_xlsx(rows: list[list[str]]) -> bytes:
    """The register as an XLSX workbook."""
    return table_xlsx(REGISTER_COLUMNS, rows, REGISTER_TITLE)
