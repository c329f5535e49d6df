"""Passwords (argon2), bearer tokens and turning a token into a `Principal`."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from engine.errors import AuthenticationError
from engine.principal import Clearance, Principal
from storage.models import Agency, ApiToken, User, UserRole, utcnow

__all__ = [
    "SESSION_TOKEN_TTL",
    "check_password",
    "find_credentials",
    "hash_password",
    "issue_token",
    "principal_for",
    "principal_from_token",
    "verify_password",
]

SESSION_TOKEN_TTL = timedelta(hours=12)
_hasher = PasswordHasher()
# A fixed hash to verify against when the user does not exist, so timing does not tell.
_DUMMY_HASH = _hasher.hash("lienthong-no-such-user")


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
) -> tuple[str, datetime | None]:
    """Create a bearer token for a user; returns the token (shown once) and its expiry."""
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + ttl if ttl is not None else None
    session.add(
        ApiToken(
            user_id=user_id,
            token_hash=_token_digest(token, secret),
            kind=kind,
            name=name,
            expires_at=expires_at,
        )
    )
    session.flush()
    return token, expires_at


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
