"""Request dependencies, declared once: the session, the current user, the adapters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.settings import Settings
from engine.auth import principal_from_token
from engine.errors import AuthenticationError, PermissionDeniedError
from engine.exchange.identity import NodeIdentity
from engine.principal import Principal
from storage.objects import ObjectStore

__all__ = [
    "AppState",
    "ConnectionSlot",
    "CurrentUser",
    "ObjectStoreDep",
    "Page",
    "SessionDep",
    "SettingsDep",
    "require_roles",
]


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    objects: ObjectStore
    node: NodeIdentity


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.lienthong
    return state


async def _connection_slot(request: Request) -> AsyncIterator[None]:
    # Wait here, on the event loop, for one of the connections kept for requests. Waiting
    # for the pool inside a worker thread instead lets a burst of requests take every
    # thread while the requests holding the connections wait for a thread to finish: no
    # request then moves until the pool's timeout (seen at 41 concurrent receptions).
    slots: asyncio.Semaphore = request.app.state.connection_slots
    async with slots:
        yield


def _session(
    request: Request, _slot: Annotated[None, Depends(_connection_slot, scope="function")]
) -> Iterator[Session]:
    # One transaction per request: committed when the route returns, rolled back on error.
    with _state(request).sessions.begin() as session:
        yield session


oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def _settings(request: Request) -> Settings:
    return _state(request).settings


def _objects(request: Request) -> ObjectStore:
    return _state(request).objects


# scope="function": the transaction commits before the response goes out, so a client never
# sees a result that is not yet (or never) committed, and a failing commit is an error answer.
SessionDep = Annotated[Session, Depends(_session, scope="function")]
# For routes that open their own units of work (several, or outside a transaction).
ConnectionSlot = Annotated[None, Depends(_connection_slot, scope="function")]
SettingsDep = Annotated[Settings, Depends(_settings)]
ObjectStoreDep = Annotated[ObjectStore, Depends(_objects)]


def _current_user(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2)]
) -> Principal:
    if not token:
        raise AuthenticationError(
            "Cần đăng nhập (Authorization: Bearer …) / Log in first (Authorization: Bearer …)"
        )
    return principal_from_token(session, token, _state(request).settings.secret_key)


CurrentUser = Annotated[Principal, Depends(_current_user)]


def require_roles(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency that lets only users holding one of `roles` through (403 otherwise)."""

    def check(user: CurrentUser) -> Principal:
        if not user.has_role(*roles):
            raise PermissionDeniedError(
                f"Cần vai trò {', '.join(roles)} / This needs the role {' or '.join(roles)}",
                code="role_required",
            )
        return user

    return check


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


def _page(
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page")] = 50,
    offset: Annotated[int, Query(ge=0, description="Items to skip")] = 0,
) -> PageParams:
    return PageParams(limit, offset)


Page = Annotated[PageParams, Depends(_page)]
