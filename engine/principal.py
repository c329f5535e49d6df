"""Who is acting: roles, secrecy clearance and the authenticated principal."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

__all__ = ["ROLES", "Clearance", "Principal", "ROLE_LABELS"]

ROLE_LABELS: Final[dict[str, str]] = {
    "reception": "Cán bộ tiếp nhận (một cửa)",
    "specialist": "Chuyên viên",
    "leader": "Lãnh đạo",
    "clerk": "Văn thư",
    "archivist": "Lưu trữ viên",
    "designer": "Thiết kế quy trình",
    "admin": "Quản trị hệ thống",
}
ROLES: Final[frozenset[str]] = frozenset(ROLE_LABELS)


class Clearance(IntEnum):
    """Secrecy clearance (Law on State Secrets): each level sees itself and below."""

    NONE = 0
    MAT = 1  # Mật
    TOI_MAT = 2  # Tối mật
    TUYET_MAT = 3  # Tuyệt mật

    @property
    def label(self) -> str:
        """The Vietnamese name of the level."""
        return ("Không", "Mật", "Tối mật", "Tuyệt mật")[self.value]


@dataclass(frozen=True)
class Principal:
    """An authenticated user as the engine sees it."""

    user_id: int
    username: str
    full_name: str
    agency_id: int
    agency_code: str
    agency_path: str
    roles: frozenset[str]
    clearance: Clearance

    def has_role(self, *roles: str) -> bool:
        """True when the user holds any of `roles`."""
        return bool(self.roles.intersection(roles))

    @property
    def is_admin(self) -> bool:
        """True for system administrators."""
        return "admin" in self.roles
