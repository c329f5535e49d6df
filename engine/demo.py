"""Demo data: a fictional province with departments, a service centre, communes and users."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.agencies import create_agency
from engine.auth import hash_password
from engine.errors import InvalidInputError
from engine.principal import Clearance
from engine.users import create_user
from storage.models import Agency

__all__ = [
    "CENTRE_CODE",
    "COMMUNE1_CODE",
    "DEMO_PASSWORD",
    "DEPARTMENT_CODE",
    "PROVINCE_CODE",
    "is_empty",
    "seed",
    "users_with_demo_password",
]

DEMO_PASSWORD = "demo"  # noqa: S105 - demo mode only; the server refuses it outside demo mode
PROVINCE_CODE = "000.00.00.H99"
DEPARTMENT_CODE = "000.00.10.H99"  # Sở Tư pháp
COMMUNE1_CODE = "000.01.20.H99"
CENTRE_CODE = "000.00.30.H99"  # provincial public-administration service centre
COMMUNE2_CODE = "000.02.20.H99"

# (code, name, kind, parent)
AGENCIES: list[tuple[str, str, str, str | None]] = [
    (PROVINCE_CODE, "UBND tỉnh Lam Sơn (demo)", "province_pc", None),
    (DEPARTMENT_CODE, "Sở Tư pháp tỉnh Lam Sơn", "department", PROVINCE_CODE),
    ("000.00.11.H99", "Sở Xây dựng tỉnh Lam Sơn", "department", PROVINCE_CODE),
    (
        "000.00.30.H99",
        "Trung tâm Phục vụ hành chính công tỉnh Lam Sơn",
        "service_centre",
        PROVINCE_CODE,
    ),
    ("000.00.40.H99", "Công an tỉnh Lam Sơn", "police", PROVINCE_CODE),
    ("000.00.41.H99", "Bảo hiểm xã hội tỉnh Lam Sơn", "social_insurance", PROVINCE_CODE),
    (COMMUNE1_CODE, "UBND xã Hoà Bình", "commune_pc", PROVINCE_CODE),
    (COMMUNE2_CODE, "UBND phường Đông Hải", "commune_pc", PROVINCE_CODE),
]

# (username, full name, agency, roles, clearance)
USERS: list[tuple[str, str, str, list[str], Clearance]] = [
    ("tiepnhan", "Nguyễn Thị Tiếp Nhận", COMMUNE1_CODE, ["reception"], Clearance.NONE),
    ("tiepnhan.tt", "Đặng Thu Trang", CENTRE_CODE, ["reception"], Clearance.NONE),
    ("chuyenvien", "Trần Văn Chuyên", COMMUNE1_CODE, ["specialist"], Clearance.NONE),
    ("lanhdao", "Lê Văn Lãnh", COMMUNE1_CODE, ["leader"], Clearance.MAT),
    ("vanthu", "Phạm Thị Văn Thư", COMMUNE1_CODE, ["clerk"], Clearance.MAT),
    # Cleared for Mật: a secret outgoing document starts as a specialist's draft.
    ("chuyenvien.so", "Hoàng Minh Chuyên", DEPARTMENT_CODE, ["specialist"], Clearance.MAT),
    ("lanhdao.so", "Đỗ Quang Lãnh", DEPARTMENT_CODE, ["leader"], Clearance.TOI_MAT),
    ("vanthu.so", "Vũ Thị Thư", DEPARTMENT_CODE, ["clerk"], Clearance.MAT),
    ("congan", "Bùi Văn An", "000.00.40.H99", ["specialist"], Clearance.NONE),
    ("bhxh", "Đinh Thị Bảo", "000.00.41.H99", ["specialist"], Clearance.NONE),
    ("luutru", "Ngô Thị Lưu", PROVINCE_CODE, ["archivist"], Clearance.MAT),
    ("thietke", "Dương Văn Thiết", PROVINCE_CODE, ["designer"], Clearance.NONE),
    ("admin", "Quản trị hệ thống", PROVINCE_CODE, ["admin"], Clearance.TUYET_MAT),
]


def is_empty(session: Session) -> bool:
    """True when the database has no agency yet."""
    return (session.scalar(select(func.count()).select_from(Agency)) or 0) == 0


def seed(session: Session, province: str = "H99") -> None:
    """Create the demo agencies and users (password `demo`) in an empty database.

    `province` replaces the demo province's level-1 code (H99) in every agency code, so a
    second demo node serves different agencies (exchange between nodes). Raises
    InvalidInputError for a code that is not a letter and two digits.
    """
    if not re.fullmatch(r"[A-Z]\d\d", province):
        raise InvalidInputError(
            f"Mã tỉnh demo '{province}' phải là một chữ và hai số, ví dụ H98 / the demo "
            "province code must be a letter and two digits, e.g. H98",
            details=[{"field": "province", "message": "e.g. H98"}],
        )

    def local(code: str) -> str:
        return code.replace("H99", province)

    for code, name, kind, parent in AGENCIES:
        suffix = "" if province == "H99" else f" [{province}]"
        create_agency(session, local(code), name + suffix, kind, local(parent) if parent else None)
    hashed = hash_password(DEMO_PASSWORD)  # one argon2 run: the demo password is shared anyway
    for username, full_name, agency, roles, clearance in USERS:
        create_user(
            session,
            username,
            full_name,
            local(agency),
            roles,
            DEMO_PASSWORD,
            clearance=clearance,
            password_hash=hashed,
        )


def users_with_demo_password(session: Session) -> list[str]:
    """Demo usernames still using the demo password (refused outside demo mode)."""
    from engine.auth import verify_password
    from storage.models import User

    names = [u[0] for u in USERS]
    rows = session.execute(
        select(User.username, User.password_hash).where(User.username.in_(names))
    )
    return [name for name, hashed in rows if verify_password(hashed, DEMO_PASSWORD)]
