"""Passwords (argon2), bearer tokens and turning a token into a `Principal`."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, selectinload

from engine import audit
from engine.errors import AuthenticationError, NotFoundError
from engine.principal import Clearance, Principal
from storage.models import Agency, ApiToken, User, UserRole, utcnow

__all__ = [
    "API_TOKEN_DEFAULT_TTL",
    "IssuedToken",
    "SESSION_TOKEN_TTL",
    "TokenView",
    "check_password",
    "find_credentials",
    "hash_password",
    "issue_token",
    "list_api_tokens",
    "principal_for",
    "principal_from_token",
    "revoke_api_token",
    "revoke_tokens",
    "token_row_id",
    "verify_password",
]

SESSION_TOKEN_TTL = timedelta(hours=12)
# A machine token nobody gave an expiry still dies within a year: a forgotten one on an old
# server must not open the API for ever.
API_TOKEN_DEFAULT_TTL = timedelta(days=365)
_hasher = PasswordHasher()
# A fixed hash to verify against when the user does not exist, so timing does not tell.
_DUMMY_HASH = _hasher.hash("lienthong-no-such-user")


class IssuedToken(NamedTuple):
    id: int
    token: str
    expires_at: datetime | None


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches the stored argon2 hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_digest(token: str, secret: str) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def find_credentials(session: Session, username: str) -> tuple[int, str, bool]:
    """(user id, password hash, active) for a username; a dummy for an unknown one."""
    row = session.execute(
        select(User.id, User.password_hash, User.is_active).where(User.username == username)
    ).first()
    if row is None:
        return -1, _DUMMY_HASH, False
    return row[0], row[1], row[2]


def check_password(password_hash: str, active: bool, password: str) -> None:
    """Raise AuthenticationError unless the password matches an active account's hash."""
    ok = verify_password(password_hash, password)
    if not (ok and active):
        raise _bad_credentials()


def _bad_credentials() -> AuthenticationError:
    return AuthenticationError(
        "Sai tên đăng nhập hoặc mật khẩu / Wrong username or password",
        code="invalid_credentials",
    )


def issue_token(
    session: Session,
    user_id: int,
    secret: str,
    *,
    kind: str = "session",
    name: str | None = None,
    ttl: timedelta | None = SESSION_TOKEN_TTL,
) -> IssuedToken:
    """Create a bearer token for a user; returns its id, the token (shown once) and expiry."""
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + ttl if ttl is not None else None
    row = ApiToken(
        user_id=user_id,
        token_hash=_token_digest(token, secret),
        kind=kind,
        name=name,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return IssuedToken(row.id, token, expires_at)


def principal_from_token(session: Session, token: str, secret: str) -> Principal:
    """Resolve a bearer token to its user; raises AuthenticationError when invalid or expired.

    Every request does this: one query joins token, user and agency, a second reads roles.
    """
    row = session.execute(
        select(ApiToken.expires_at, ApiToken.revoked_at, User, Agency)
        .join(User, User.id == ApiToken.user_id)
        .join(Agency, Agency.id == User.agency_id)
        .where(ApiToken.token_hash == _token_digest(token, secret))
    ).first()
    now = utcnow()
    if row is None or row[1] is not None or (row[0] and row[0] <= now):
        raise AuthenticationError(
            "Phiên đăng nhập không hợp lệ hoặc đã hết hạn; hãy đăng nhập lại / "
            "The token is invalid or expired; log in again",
            code="invalid_token",
        )
    user, agency = row[2], row[3]
    if not user.is_active:
        raise AuthenticationError("Tài khoản đã bị khoá / The account is disabled", code="inactive")
    roles = session.scalars(select(UserRole.role).where(UserRole.user_id == user.id))
    return _principal(user, agency, frozenset(roles))


def _principal(user: User, agency: Agency, roles: frozenset[str]) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        full_name=user.full_name,
        agency_id=agency.id,
        agency_code=agency.code,
        agency_path=agency.path,
        roles=roles,
        clearance=Clearance(user.clearance),
    )


def principal_for(session: Session, user_id: int) -> Principal:
    """Load a user with roles and agency as a Principal; raises AuthenticationError if inactive."""
    user = session.scalar(
        select(User)
        .where(User.id == user_id)
        .options(selectinload(User.roles), selectinload(User.agency))
    )
    if user is None or not user.is_active:
        raise AuthenticationError("Tài khoản đã bị khoá / The account is disabled", code="inactive")
    return _principal(user, user.agency, frozenset(r.role for r in user.roles))


@dataclass(frozen=True)
class TokenView:
    """An API token as its owner and admins see it: never the secret."""

    id: int
    name: str | None
    username: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def list_api_tokens(session: Session, user_id: int) -> list[TokenView]:
    """The API tokens (not log-in sessions) of a user, newest first, revoked ones included."""
    rows = session.execute(
        select(ApiToken, User.username)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.user_id == user_id, ApiToken.kind == "api")
        .order_by(ApiToken.id.desc())
    )
    return [
        TokenView(t.id, t.name, name, t.created_at, t.expires_at, t.revoked_at) for t, name in rows
    ]


def revoke_api_token(session: Session, token_id: int, actor: Principal) -> None:
    """Revoke an API token of the actor's own, or, for an admin, of a user in their subtree.

    Raises NotFoundError for a token the actor may not see. Revoking twice keeps the first time.
    """
    row = session.execute(
        select(ApiToken, Agency.path)
        .join(User, User.id == ApiToken.user_id)
        .join(Agency, Agency.id == User.agency_id)
        .where(ApiToken.id == token_id, ApiToken.kind == "api")
    ).first()
    if row is not None:
        token, path = row
        if token.user_id == actor.user_id or (
            actor.is_admin and path.startswith(actor.agency_path)
        ):
            if token.revoked_at is None:
                token.revoked_at = utcnow()
                audit.record(
                    session,
                    actor.user_id,
                    "revoke_api_token",
                    "user",
                    token.user_id,
                    {"token_id": token.id, "name": token.name},
                )
            return
    raise NotFoundError(
        f"Không có mã truy cập {token_id} / No API token {token_id}", code="token_not_found"
    )


def token_row_id(session: Session, token: str, secret: str) -> int | None:
    """The id of a bearer token's row (valid or not), or None for an unknown token."""
    return session.scalar(
        select(ApiToken.id).where(ApiToken.token_hash == _token_digest(token, secret))
    )


def revoke_tokens(session: Session, user_id: int, *, keep: int | None = None) -> int:
    """End every token of a user, log-in sessions and named API tokens alike, but `keep`
    (a token id: the one in use) after a password change or reset; returns how many ended.

    API tokens go too: whoever knew the old password could have made one from a session,
    and it would outlive the change by up to ten years. Machines get a new token.
    """
    stmt = (
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if keep is not None:
        stmt = stmt.where(ApiToken.id != keep)
    # An UPDATE's result is a cursor result; the session's signature does not say so.
    return cast("CursorResult[Any]", session.execute(stmt)).rowcount
