"""Request and response bodies shared by the routes. Unknown fields are refused (422)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from api.errors import NUL_MESSAGE
from engine.dossiers.reception import Applicant, Reception

__all__ = ["ApplicantIn", "Input", "Output", "PageOut", "Password", "ReceptionIn"]

T = TypeVar("T")


class Input(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped.

    Every field, free-form JSON objects included, refuses text with NUL and numbers that
    are not finite (`NaN`, `Infinity`, `-Infinity`, or `1e400`, which JSON reads as infinite).
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        # PostgreSQL cannot store \x00 in text, SQLite can: refuse it alike on both. After
        # validation, so a nested body is a model by now and names its own field.
        if _holds_nul(value):
            raise ValueError(NUL_MESSAGE)
        # JSON columns have no NaN or infinity: they were stored as null, silently. Typed
        # float fields are caught here too, rather than by pydantic's `allow_inf_nan=False`,
        # whose message is in English only.
        at = _non_finite_at(value)
        if at is not None:
            raise PydanticCustomError(
                "non_finite_number",
                "Số không hữu hạn (NaN, Infinity hoặc vượt giới hạn) không được chấp nhận / "
                "a number must be finite (not NaN, Infinity or out of range)",
                {"json_path": at},
            )
        return value


# A password is taken exactly as typed, surrounding spaces included, wherever it is set
# (here, the command line and the log-in form): `Input` strips every other string.
Password = Annotated[str, StringConstraints(strip_whitespace=False, max_length=256)]


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(v) for v in value)
    return False


def _non_finite_at(value: Any) -> list[str | int] | None:
    """The path inside `value` to its first NaN or infinite number ([] for `value` itself)."""
    if isinstance(value, Decimal):  # math.isfinite() cannot read a signalling NaN
        return None if value.is_finite() else []
    if isinstance(value, float):
        return None if math.isfinite(value) else []
    items: Iterable[tuple[str | int, Any]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        below = _non_finite_at(item)
        if below is not None:
            return [key, *below]
    return None


class ApplicantIn(Input):
    full_name: str = Field(min_length=1, max_length=255)
    id_number: str = Field(
        pattern=r"^[0-9]{9}$|^[0-9]{12}$", description="CMND (9) or CCCD (12 digits)"
    )
    phone: str = Field(pattern=r"^\+?[0-9 .-]{8,20}$")
    email: str | None = Field(default=None, max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    address: str | None = Field(default=None, max_length=500)


class ReceptionIn(Input):
    """A dossier received at the desk (`POST /api/v1/dossiers`, `lienthong dossier receive`)."""

    procedure_code: str = Field(min_length=1, max_length=50)
    applicant: ApplicantIn
    channel: Literal["counter", "online", "post"]
    complete: StrictBool
    missing_documents: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=100
    )
    received_at: datetime | None = None
    refusal_reason: str | None = Field(default=None, min_length=1, max_length=2000)
    competent_agency: str | None = Field(
        default=None,
        max_length=35,
        description="Non-boundary reception: the competent agency elsewhere in the province",
    )

    def reception(self) -> Reception:
        """The engine's value for `engine.dossiers.reception.receive`."""
        data = self.model_dump()
        return Reception(**data | {"applicant": Applicant(**data["applicant"])})


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class TaskOut(Output):
    id: int
    instance_id: int
    business_key: str | None
    task: str
    name: str
    lane: str | None
    role: str
    agency_code: str
    assignee: str | None
    state: str
    created_at: datetime
    due_at: datetime | None


class TaskDetailOut(TaskOut):
    form: dict[str, Any]
    data: dict[str, Any]


class InstanceOut(Output):
    id: int
    process_id: str
    definition_version: int
    business_key: str | None
    agency_code: str
    status: str
    version: int
    incident: dict[str, Any] | None
    ready_tasks: list[dict[str, Any]]
    data: dict[str, Any]
