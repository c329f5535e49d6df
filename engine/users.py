"""Users: create, list, roles and clearance."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from engine import audit
from engine.agencies import get_agency
from engine.auth import hash_password
from engine.errors import ConflictError, InvalidInputError, NotFoundError
from engine.principal import ROLES, Clearance, Principal
from storage.models import Agency, User, UserRole

__all__ = ["UserView", "create_user", "find_user_id", "list_users"]

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    full_name: str
    agency_code: str
    agency_name: str
    roles: list[str]
    clearance: str
    is_active: bool


def create_user(
    session: Session,
    username: str,
    full_name: str,
    agency_code: str,
    roles: list[str],
    password: str,
    *,
    clearance: Clearance = Clearance.NONE,
    position: str | None = None,
    actor_id: int | None = None,
    password_hash: str | None = None,
) -> User:
    """Add a user; raises InvalidInputError (bad name, role, password) or ConflictError (taken)."""
    if not _USERNAME.match(username):
        raise InvalidInputError(
            f"Tên đăng nhập '{username}' không hợp lệ (a-z, 0-9, . _ -) / invalid username",
            details=[{"field": "username", "message": "2-64 characters a-z 0-9 . _ -"}],
        )
    unknown = sorted(set(roles) - ROLES)
    if unknown or not roles:
        raise InvalidInputError(
            f"Vai trò không hợp lệ {unknown} / unknown roles {unknown}; use {sorted(ROLES)}",
            details=[{"field": "roles", "message": f"one or more of {sorted(ROLES)}"}],
        )
    if len(password) < 4:
        raise InvalidInputError(
            "Mật khẩu quá ngắn / password too short",
            details=[{"field": "password", "message": "at least 4 characters"}],
        )
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ConflictError(f"Tên đăng nhập {username} đã có / username {username} is taken")
    agency = get_agency(session, agency_code)
    user = User(
        username=username,
        full_name=full_name,
        agency_id=agency.id,
        password_hash=password_hash or hash_password(password),
        clearance=int(clearance),
        position=position,
        roles=[UserRole(role=r) for r in sorted(set(roles))],
    )
    session.add(user)
    session.flush()
    audit.record(
        session, actor_id, "create", "user", user.id, {"username": username, "roles": roles}
    )
    return user


def list_users(
    session: Session, principal: Principal, *, limit: int = 50, offset: int = 0
) -> tuple[list[UserView], int]:
    """Users of the principal's agency subtree, by username; returns (page, total)."""
    scope = Agency.path.startswith(principal.agency_path)
    total = session.scalar(select(func.count()).select_from(User).join(Agency).where(scope)) or 0
    rows = session.scalars(
        select(User)
        .join(Agency)
        .where(scope)
        .options(selectinload(User.roles), selectinload(User.agency))
        .order_by(User.username)
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        UserView(
            id=u.id,
            username=u.username,
            full_name=u.full_name,
            agency_code=u.agency.code,
            agency_name=u.agency.name,
            roles=[r.role for r in u.roles],
            clearance=Clearance(u.clearance).label,
            is_active=u.is_active,
        )
        for u in rows
    ], total


def find_user_id(session: Session, username: str, *, scope: Principal) -> int:
    """The id of a user in the principal's agency subtree; raises NotFoundError."""
    user_id = session.scalar(
        select(User.id)
        .join(Agency)
        .where(User.username == username, Agency.path.startswith(scope.agency_path))
    )
    if user_id is None:
        raise NotFoundError(f"Không có người dùng {username} / No user {username}")
    return user_id
