"""Log in (OAuth2 password flow) and long-lived API tokens for machines."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field, StrictInt

from api.deps import ConnectionSlot, CurrentUser, SessionDep, SettingsDep, oauth2
from api.errors import error_responses
from api.schemas import Input, Password
from engine import audit
from engine.auth import (
    API_TOKEN_DEFAULT_TTL,
    TokenView,
    check_password,
    find_credentials,
    issue_token,
    list_api_tokens,
    revoke_api_token,
    token_row_id,
)
from engine.errors import PermissionDeniedError
from engine.users import change_own_password, find_user_id, token_target

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime | None


class ApiTokenCreated(TokenOut):
    id: int = Field(description="For listing and revoking (DELETE /api/v1/auth/api-tokens/{id})")


class ApiTokenIn(Input):
    name: str = Field(min_length=1, max_length=255)
    username: str | None = Field(default=None, description="Admins may issue for another user")
    expires_in_days: StrictInt | None = Field(
        default=None, ge=1, le=3650, description="Default 365 days"
    )


ApiTokenOut = TokenView


class PasswordIn(Input):
    old_password: Password = Field(min_length=1)
    new_password: Password = Field(min_length=1)


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
        issued = issue_token(
            session, user_id, settings.secret_key, ttl=timedelta(hours=settings.token_ttl_hours)
        )
        audit.record(session, user_id, "login", "user", user_id)
    return TokenOut(access_token=issued.token, expires_at=issued.expires_at)


@router.post(
    "/api-tokens",
    response_model=ApiTokenCreated,
    status_code=201,
    responses=error_responses(401, 403, 404, 422),
)
def create_api_token(
    body: ApiTokenIn, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> ApiTokenCreated:
    """A long-lived token for a machine; shown once. Admins may issue one for another user."""
    target = user.user_id
    if body.username and body.username != user.username:
        if not user.is_admin:
            raise PermissionDeniedError(
                "Chỉ quản trị viên cấp mã cho người khác / Only admins issue tokens for others"
            )
        target = token_target(session, body.username, user)
    ttl = timedelta(days=body.expires_in_days) if body.expires_in_days else API_TOKEN_DEFAULT_TTL
    issued = issue_token(session, target, settings.secret_key, kind="api", name=body.name, ttl=ttl)
    audit.record(session, user.user_id, "issue_api_token", "user", target, {"name": body.name})
    return ApiTokenCreated(id=issued.id, access_token=issued.token, expires_at=issued.expires_at)


@router.get(
    "/api-tokens", response_model=list[ApiTokenOut], responses=error_responses(401, 403, 404)
)
def api_tokens(
    user: CurrentUser,
    session: SessionDep,
    username: Annotated[
        str | None, Query(max_length=64, description="Admins may list another user's")
    ] = None,
) -> list[ApiTokenOut]:
    """My API tokens (an admin: a user's in their subtree), newest first; never the secrets."""
    target = user.user_id
    if username and username != user.username:
        if not user.is_admin:
            raise PermissionDeniedError(
                "Chỉ quản trị viên xem mã của người khác / Only admins see others' tokens"
            )
        target = find_user_id(session, username, scope=user)
    return list_api_tokens(session, target)


@router.delete("/api-tokens/{token_id}", status_code=204, responses=error_responses(401, 404, 422))
def revoke(
    token_id: Annotated[int, Path(ge=1)], user: CurrentUser, session: SessionDep
) -> Response:
    """Revoke an API token at once: mine, or (an admin) one of a user in my subtree."""
    revoke_api_token(session, token_id, user)
    return Response(status_code=204)


@router.post("/password", status_code=204, responses=error_responses(401, 403, 422))
def change_password(
    body: PasswordIn,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2)],
) -> Response:
    """Change my own password (the current one is asked for), taken exactly as typed.

    My other log-in sessions and my API tokens end at once (another device, or someone who
    knew the old password and may have made a token); the token making this request stays
    valid, so I am not logged out here. Machines need a new API token afterwards.
    """
    current = token_row_id(session, token, settings.secret_key) if token else None
    change_own_password(session, user, body.old_password, body.new_password, keep_session=current)
    return Response(status_code=204)
