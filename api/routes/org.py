"""Agencies and users (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import Field, StrictBool, StrictInt

from api.deps import CurrentUser, Page, SessionDep, require_roles
from api.errors import error_responses
from api.schemas import Input, Output, PageOut, Password
from engine.agencies import create_agency, get_agency, in_scope, list_agencies
from engine.errors import ConflictError, PermissionDeniedError
from engine.principal import Clearance, Principal
from engine.users import (
    check_grantable,
    check_new_password,
    create_user,
    list_users,
    reset_password,
    set_active,
    user_view,
)

router = APIRouter(prefix="/api/v1", tags=["organisation"])
Admin = Annotated[Principal, Depends(require_roles("admin"))]


class AgencyOut(Output):
    id: int
    code: str
    name: str
    kind: str
    parent_code: str | None
    depth: int


class AgencyIn(Input):
    code: str = Field(min_length=1, max_length=35)
    name: str = Field(min_length=1, max_length=255)
    kind: str
    parent_code: str | None = None


class UserOut(Output):
    id: int
    username: str
    full_name: str
    agency_code: str
    agency_name: str
    roles: list[str]
    clearance: str
    is_active: bool


class UserIn(Input):
    username: str = Field(min_length=2, max_length=64)
    full_name: str = Field(min_length=1, max_length=255)
    agency_code: str
    roles: list[str] = Field(min_length=1)
    password: Password = Field(min_length=8)
    clearance: StrictInt = Field(default=0, ge=0, le=3)
    position: str | None = Field(default=None, max_length=255)


class UserPatch(Input):
    active: StrictBool


class PasswordResetIn(Input):
    new_password: Password = Field(min_length=1)


@router.get("/agencies", response_model=list[AgencyOut], responses=error_responses(401))
def agencies(session: SessionDep, user: CurrentUser) -> list[AgencyOut]:
    """Every agency, in tree order (depth 0 = a root)."""
    return [AgencyOut.model_validate(a) for a in list_agencies(session)]


@router.post(
    "/agencies",
    response_model=AgencyOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
)
def add_agency(body: AgencyIn, session: SessionDep, user: Admin) -> AgencyOut:
    """Add an agency under a parent within the admin's scope; one installation keeps one root."""
    if body.parent_code is None and user.agency_path.count("/") == 2:
        # Other provinces and ministries are other nodes, reached by exchange: a second root
        # here would be out of every admin's scope, a dead end nothing could be added under.
        raise ConflictError(
            "Mỗi cài đặt phục vụ một cơ quan gốc; hãy thêm cơ quan dưới một cơ quan có sẵn, hoặc "
            "dùng `lienthong agency add` không có --parent trên một cài đặt mới / One "
            "installation serves one root agency; add the agency under an existing one, or run "
            "`lienthong agency add` without --parent on a new installation",
            code="second_root_agency",
        )
    if body.parent_code is None or not in_scope(user, get_agency(session, body.parent_code).path):
        raise PermissionDeniedError(
            "Chỉ thêm cơ quan trong phạm vi của mình / Add agencies within your own subtree",
            code="agency_out_of_scope",
        )
    agency = create_agency(session, body.code, body.name, body.kind, body.parent_code)
    view = next(a for a in list_agencies(session, agency) if a.id == agency.id)
    return AgencyOut.model_validate(view)


@router.get("/users", response_model=PageOut[UserOut], responses=error_responses(401, 403))
def users(session: SessionDep, user: Admin, page: Page) -> PageOut[UserOut]:
    """Users of the admin's agency subtree with roles and agency codes."""
    items, total = list_users(session, user, limit=page.limit, offset=page.offset)
    return PageOut(
        items=[UserOut.model_validate(u) for u in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/users",
    response_model=UserOut,
    status_code=201,
    responses=error_responses(401, 403, 404, 409, 422),
)
def add_user(body: UserIn, session: SessionDep, user: Admin) -> UserOut:
    """Create a user in an agency within the admin's scope; the password is kept exactly as
    given, surrounding spaces included."""
    if not in_scope(user, get_agency(session, body.agency_code).path):
        raise PermissionDeniedError(
            "Chỉ tạo người dùng trong phạm vi của mình / Create users within your own subtree",
            code="agency_out_of_scope",
        )
    check_grantable(user, Clearance(body.clearance))
    check_new_password(body.password, field="password")  # as `lienthong user add` checks it
    created = create_user(
        session,
        body.username,
        body.full_name,
        body.agency_code,
        body.roles,
        body.password,
        clearance=Clearance(body.clearance),
        position=body.position,
        actor_id=user.user_id,
    )
    return UserOut(
        id=created.id,
        username=created.username,
        full_name=created.full_name,
        agency_code=body.agency_code.upper(),
        agency_name=get_agency(session, body.agency_code).name,
        roles=sorted(set(body.roles)),
        clearance=Clearance(body.clearance).label,
        is_active=True,
    )


@router.patch(
    "/users/{username}", response_model=UserOut, responses=error_responses(401, 403, 404, 409, 422)
)
def change_user(username: str, body: UserPatch, session: SessionDep, user: Admin) -> UserOut:
    """Disable (`{"active": false}`) or enable a user of the admin's subtree; a disabled
    user's sessions and API tokens stop working at once."""
    set_active(session, username, body.active, actor=user)
    return UserOut.model_validate(user_view(session, username))


@router.post(
    "/users/{username}/password", status_code=204, responses=error_responses(401, 403, 404, 422)
)
def reset_user_password(
    username: str, body: PasswordResetIn, session: SessionDep, user: Admin
) -> Response:
    """Set a new password for a user of the admin's subtree (not cleared above the admin);
    all their log-in sessions and API tokens end (an admin resetting their own: this one
    too)."""
    reset_password(session, username, body.new_password, actor=user)
    return Response(status_code=204)
