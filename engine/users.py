"""Users: create, list, roles and clearance; passwords and disabling accounts.

An admin acts on users of their own agency subtree only, and never above their own
clearance: granting a higher clearance, or resetting the password of (or issuing a token
for) a user cleared higher, would let an uncleared admin act as a cleared user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from engine import audit
from engine.agencies import get_agency
from engine.auth import hash_password, revoke_tokens, verify_password
from engine.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from engine.principal import ROLES, Clearance, Principal
from engine.unique import flush_unique
from storage.models import Agency, User, UserRole

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "UserView",
    "change_own_password",
    "check_grantable",
    "check_new_password",
    "create_user",
    "find_user_id",
    "list_users",
    "reset_password",
    "set_active",
    "token_target",
    "user_view",
]

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256


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
    taken = ConflictError(f"Tên đăng nhập {username} đã có / username {username} is taken")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise taken
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
    flush_unique(session, taken, user)
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
    return [_view(u) for u in rows], total


def _view(u: User) -> UserView:
    return UserView(
        id=u.id,
        username=u.username,
        full_name=u.full_name,
        agency_code=u.agency.code,
        agency_name=u.agency.name,
        roles=[r.role for r in u.roles],
        clearance=Clearance(u.clearance).label,
        is_active=u.is_active,
    )


def user_view(session: Session, username: str) -> UserView:
    """One user with roles and agency; raises NotFoundError."""
    user = session.scalar(
        select(User)
        .where(User.username == username)
        .options(selectinload(User.roles), selectinload(User.agency))
    )
    if user is None:
        raise NotFoundError(f"Không có người dùng {username} / No user {username}")
    return _view(user)


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


def _in_scope(session: Session, username: str, scope: Principal | None) -> User:
    """The user (in the principal's subtree, when one is given); raises NotFoundError."""
    stmt = select(User).join(Agency).where(User.username == username)
    if scope is not None:
        stmt = stmt.where(Agency.path.startswith(scope.agency_path))
    user = session.scalar(stmt)
    if user is None:
        raise NotFoundError(f"Không có người dùng {username} / No user {username}")
    return user


def check_grantable(actor: Principal, clearance: Clearance) -> None:
    """Raise PermissionDeniedError when `clearance` is above the admin's own."""
    if clearance > actor.clearance:
        raise PermissionDeniedError(
            f"Không cấp được độ mật {clearance.label} cao hơn độ mật của mình "
            f"({actor.clearance.label}) / You cannot grant a clearance above your own "
            f"({int(clearance)} > {int(actor.clearance)})",
            code="clearance_above_own",
        )


def _check_not_above(actor: Principal, user: User, doing_vi: str, doing_en: str) -> None:
    if user.clearance > actor.clearance:
        raise PermissionDeniedError(
            f"Không {doing_vi} cho {user.username}: độ mật của người này cao hơn của bạn / "
            f"You cannot {doing_en} for {user.username}: their clearance is above yours",
            code="clearance_above_own",
        )


def token_target(session: Session, username: str, actor: Principal) -> int:
    """The id of a user an admin may issue an API token for; raises NotFoundError or
    PermissionDeniedError (the user is cleared above the admin)."""
    user = _in_scope(session, username, actor)
    _check_not_above(actor, user, "cấp mã truy cập", "issue a token")
    return user.id


def check_new_password(password: str, field: str = "new_password") -> None:
    """Raise InvalidInputError unless the password is 8 to 256 characters, not all blank."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH or not password.strip():
        raise InvalidInputError(
            f"Mật khẩu cần {MIN_PASSWORD_LENGTH} đến {MAX_PASSWORD_LENGTH} ký tự / the password "
            f"needs {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            code="weak_password",
            details=[{"field": field, "message": f"at least {MIN_PASSWORD_LENGTH} characters"}],
        )


def change_own_password(
    session: Session, actor: Principal, old: str, new: str, *, keep_session: int | None = None
) -> None:
    """Set a new password after checking the old one, and end the user's other tokens,
    sessions and API tokens (all but the token id `keep_session`; see `revoke_tokens`).

    Raises PermissionDeniedError (wrong old password) or InvalidInputError (new one too short).
    """
    user = _in_scope(session, actor.username, None)
    if not verify_password(user.password_hash, old):
        raise PermissionDeniedError(
            "Mật khẩu hiện tại không đúng / The current password is wrong",
            code="wrong_password",
        )
    check_new_password(new)
    user.password_hash = hash_password(new)
    # Whoever knew the old password may hold a session or a token made from one elsewhere:
    # the change shuts them out.
    ended = revoke_tokens(session, user.id, keep=keep_session)
    audit.record(
        session, actor.user_id, "change_password", "user", user.id, {"tokens_ended": ended}
    )


def reset_password(
    session: Session, username: str, new: str, *, actor: Principal | None = None
) -> None:
    """Set a user's password and end all their tokens (log-in sessions and API tokens).

    With `actor` (an admin over HTTP) the user must be in the admin's subtree and not cleared
    above them; without (the command line, run by whoever runs the server) any user.
    Raises NotFoundError, PermissionDeniedError or InvalidInputError.
    """
    user = _in_scope(session, username, actor)
    if actor is not None:
        _check_not_above(actor, user, "đặt lại mật khẩu", "reset the password")
    check_new_password(new)
    user.password_hash = hash_password(new)
    ended = revoke_tokens(session, user.id)
    audit.record(
        session,
        actor.user_id if actor else None,
        "reset_password",
        "user",
        user.id,
        {"tokens_ended": ended},
    )


def set_active(
    session: Session, username: str, active: bool, *, actor: Principal | None = None
) -> None:
    """Enable or disable an account; a disabled user's tokens stop working at once.

    With `actor`, only users of the admin's subtree, and never the admin themself.
    Raises NotFoundError or ConflictError.
    """
    user = _in_scope(session, username, actor)
    if actor is not None and user.id == actor.user_id and not active:
        raise ConflictError(
            "Không tự khoá tài khoản của mình được; nhờ quản trị viên khác / "
            "You cannot disable your own account; ask another admin",
            code="disable_self",
        )
    if user.is_active != active:
        user.is_active = active
        audit.record(
            session,
            actor.user_id if actor else None,
            "enable" if active else "disable",
            "user",
            user.id,
        )
