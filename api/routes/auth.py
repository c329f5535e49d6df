"""Log in (OAuth2 password flow) and long-lived API tokens for machines."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field, StrictInt

from api.deps import ConnectionSlot, CurrentUser, SessionDep, SettingsDep
from api.errors import error_responses
from api.schemas import Input
from engine import audit
from engine.auth import check_password, find_credentials, issue_token
from engine.errors import PermissionDeniedError
from engine.users import find_user_id

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime | None


class ApiTokenIn(Input):
    name: str = Field(min_length=1, max_length=255)
    username: str | None = Field(default=None, description="Admins may issue for another user")
    expires_in_days: StrictInt | None = Field(default=None, ge=1, le=3650)


@router.post("/token", response_model=TokenOut, responses=error_responses(401, 422))
def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    settings: SettingsDep,
    _slot: ConnectionSlot,
) -> TokenOut:
    """Exchange username and password for a bearer token."""
    sessions = request.app.state.lienthong.sessions
    # The slow argon2 check runs outside any transaction: on SQLite a write transaction
    # would hold the database lock for its whole duration.
    with sessions.begin() as session:
        user_id, password_hash, active = find_credentials(session, form.username)
    check_password(password_hash, active, form.password)
    with sessions.begin() as session:
        token, expires = issue_token(
            session, user_id, settings.secret_key, ttl=timedelta(hours=settings.token_ttl_hours)
        )
        audit.record(session, user_id, "login", "user", user_id)
    return TokenOut(access_token=token, expires_at=expires)


@router.post(
    "/api-tokens",
    response_model=TokenOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 422),
)
def create_api_token(
    body: ApiTokenIn, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> TokenOut:
    """A long-lived token for a machine; shown once. Admins may issue one for another user."""
    target = user.user_id
    if body.username and body.username != user.username:
        if not user.is_admin:
            raise PermissionDeniedError(
                "Chỉ quản trị viên cấp mã cho người khác / Only admins issue tokens for others"
            )
        target = find_user_id(session, body.username, scope=user)
    ttl = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    token, expires = issue_token(
        session, target, settings.secret_key, kind="api", name=body.name, ttl=ttl
    )
    audit.record(session, user.user_id, "issue_api_token", "user", target, {"name": body.name})
    return TokenOut(access_token=token, expires_at=expires)
