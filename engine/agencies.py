"""Agencies: a tree of any depth, identifier codes (QCVN 102 / QĐ 20/2020) and scope."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import ConflictError, InvalidInputError, NotFoundError
from engine.principal import Principal
from engine.unique import flush_unique
from storage.models import Agency

__all__ = [
    "AGENCY_KINDS",
    "AgencyView",
    "ancestors",
    "create_agency",
    "get_agency",
    "in_scope",
    "list_agencies",
    "nearest_of_kind",
    "validate_agency_code",
]

AGENCY_KINDS: Final[dict[str, str]] = {
    "ministry": "Bộ, cơ quan ngang bộ",
    "province_pc": "UBND tỉnh, thành phố",
    "department": "Sở, ban, ngành",
    "service_centre": "Trung tâm Phục vụ hành chính công",
    "district_pc": "UBND cấp huyện (trước 01/07/2025)",
    "commune_pc": "UBND xã, phường, đặc khu",
    "police": "Công an",
    "social_insurance": "Bảo hiểm xã hội",
    "other": "Cơ quan, đơn vị khác",
}
_QCVN102 = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$")
# QĐ 20/2020/QĐ-TTg: at most 35 characters, 0-9 and A-Z, groups separated by dots.
_QD20 = re.compile(r"^[0-9A-Z]+(\.[0-9A-Z]+)*$")


@dataclass(frozen=True)
class AgencyView:
    id: int
    code: str
    name: str
    kind: str
    parent_code: str | None
    depth: int


def validate_agency_code(code: str) -> str:
    """Normalise and check an agency code; raises InvalidInputError when malformed.

    Any code is an opaque string of at most 35 characters (0-9, A-Z, dots); a code that
    claims the QCVN 102 shape (four groups ending in a letter and two digits) must match
    `NNN.NN.NN.XNN` exactly.
    """
    norm = code.strip().upper()
    if not norm or len(norm) > 35 or not _QD20.match(norm):
        raise InvalidInputError(
            f"Mã định danh '{code}' không hợp lệ: tối đa 35 ký tự 0-9, A-Z, phân cách bằng dấu chấm"
            f" / Agency code '{code}' is invalid: at most 35 characters 0-9, A-Z separated by dots",
            code="invalid_agency_code",
            details=[{"field": "code", "message": "invalid agency code"}],
        )
    groups = norm.split(".")
    claims_102 = len(groups) == 4 and groups[3][:1].isalpha()
    if claims_102 and not _QCVN102.match(norm):
        raise InvalidInputError(
            f"Mã '{code}' không đúng dạng QCVN 102 NNN.NN.NN.XNN / "
            f"'{code}' does not match the QCVN 102 pattern NNN.NN.NN.XNN",
            code="invalid_agency_code",
            details=[{"field": "code", "message": "expected NNN.NN.NN.XNN"}],
        )
    return norm


def get_agency(session: Session, code: str) -> Agency:
    """The agency with this code; raises NotFoundError."""
    agency = session.scalar(select(Agency).where(Agency.code == code.strip().upper()))
    if agency is None:
        raise NotFoundError(f"Không có cơ quan mã {code} / No agency with code {code}")
    return agency


def create_agency(
    session: Session, code: str, name: str, kind: str, parent_code: str | None = None
) -> Agency:
    """Add an agency under `parent_code` (or as a root); raises on bad code, kind or duplicate."""
    norm = validate_agency_code(code)
    if kind not in AGENCY_KINDS:
        raise InvalidInputError(
            f"Loại cơ quan '{kind}' không hợp lệ / Unknown agency kind '{kind}'",
            details=[{"field": "kind", "message": f"one of {sorted(AGENCY_KINDS)}"}],
        )
    taken = ConflictError(
        f"Mã cơ quan {norm} đã tồn tại / Agency code {norm} already exists",
        code="duplicate_agency",
    )
    if session.scalar(select(Agency.id).where(Agency.code == norm)) is not None:
        raise taken
    parent = get_agency(session, parent_code) if parent_code else None
    agency = Agency(
        code=norm, name=name.strip(), kind=kind, parent_id=parent.id if parent else None
    )
    flush_unique(session, taken, agency)
    agency.path = f"{parent.path if parent else '/'}{agency.id}/"
    session.flush()
    return agency


def list_agencies(session: Session, under: Agency | None = None) -> list[AgencyView]:
    """Agencies in tree order (by materialised path), optionally only a subtree."""
    stmt = select(Agency)
    if under is not None:
        stmt = stmt.where(Agency.path.startswith(under.path))
    # Tree order by numeric path segments: a string sort puts /1/11/ before /1/2/, and a
    # collation may ignore the slashes altogether.
    rows = sorted(
        session.scalars(stmt), key=lambda a: [int(p) for p in a.path.strip("/").split("/")]
    )
    by_id = {a.id: a for a in rows}
    missing = {a.parent_id for a in rows if a.parent_id and a.parent_id not in by_id}
    if missing:
        by_id.update(
            {a.id: a for a in session.scalars(select(Agency).where(Agency.id.in_(missing)))}
        )
    return [
        AgencyView(
            id=a.id,
            code=a.code,
            name=a.name,
            kind=a.kind,
            parent_code=by_id[a.parent_id].code if a.parent_id else None,
            depth=a.path.count("/") - 2,
        )
        for a in rows
    ]


def ancestors(session: Session, agency: Agency) -> list[Agency]:
    """The agency's ancestors, nearest first."""
    ids = [int(p) for p in agency.path.strip("/").split("/")[:-1]]
    if not ids:
        return []
    rows = {a.id: a for a in session.scalars(select(Agency).where(Agency.id.in_(ids)))}
    return [rows[i] for i in reversed(ids)]


def nearest_of_kind(session: Session, agency: Agency, kind: str) -> list[Agency]:
    """The agencies of `kind` closest to `agency`: itself, then each ancestor's subtree
    outward, the shallowest there; several when equally near (the caller must not guess)."""
    if agency.kind == kind:
        return [agency]
    for scope in [agency, *ancestors(session, agency)]:
        found = session.scalars(
            select(Agency)
            .where(Agency.kind == kind, Agency.path.startswith(scope.path))
            .order_by(Agency.path)
        ).all()
        if found:
            # Shallowest first: a department directly under the province beats a unit
            # nested deeper.
            depth = min(a.path.count("/") for a in found)
            return [a for a in found if a.path.count("/") == depth]
    return []


def in_scope(principal: Principal, agency_path: str) -> bool:
    """True when the agency lies in the principal's agency subtree."""
    return agency_path.startswith(principal.agency_path)
