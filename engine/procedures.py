"""The administrative-procedure (TTHC) catalogue: its schema, parser and loader.

Each procedure is one YAML file in `workflows/catalogue/`; this module turns those files
into frozen `ProcedureSpec` values and refuses anything malformed with a `CatalogueError`
that names the file and the field. It is pure: it reads the files it is given and
touches no database and no network.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from engine.errors import InvalidInputError

__all__ = [
    "ONE_STOP_PROCESS_TASKS",
    "SHARE_TOLERANCE",
    "CatalogueError",
    "DocumentSpec",
    "FeeSpec",
    "ProcedureSpec",
    "load_catalogue",
    "parse_procedure",
]

# User-task ids of the BPMN processes a procedure may run on. The BPMN files in
# `workflows/` must declare exactly these user tasks, since the shares are keyed by them.
ONE_STOP_PROCESS_TASKS: Final[dict[str, tuple[str, ...]]] = {
    "one_stop_standard": (
        "receive",
        "assign",
        "appraise",
        "approve",
        "issue_result",
        "return_result",
    ),
    "one_stop_liaison_birth": (
        "receive",
        "appraise_birth",
        "approve_birth",
        "register_residence",
        "issue_insurance_card",
        "return_result",
    ),
}

# Shares are written by hand with two or three decimals; allow their rounding, no more.
SHARE_TOLERANCE: Final = Decimal("0.001")
HALF_DAY: Final = Decimal("0.5")

_CATALOGUE_SUFFIXES: Final = (".yaml", ".yml")

Level = Literal["commune", "province"]
AgencyKind = Literal[
    "province_pc",
    "department",
    "service_centre",
    "commune_pc",
    "police",
    "social_insurance",
    "ministry",
    "other",
]
OnlineLevel = Literal["full", "partial"]
Text = Annotated[str, Field(min_length=1, max_length=500)]
Count = Annotated[StrictInt, Field(ge=0, le=100)]


class CatalogueError(InvalidInputError, ValueError):
    """A catalogue file is unreadable or breaks the schema; `source` and `field` say where."""

    default_code = "invalid_catalogue"

    def __init__(
        self,
        message: str,
        *,
        source: str,
        field: str | None = None,
        fields: list[dict[str, str]] | None = None,
    ) -> None:
        # `message` already names the field(s) when there is one; see `_describe`.
        # `fields` gives one entry per problem; without it the message is one entry.
        entries = fields or [{"field": field or "body", "message": message}]
        super().__init__(
            f"{source}: {message} (thủ tục hành chính không hợp lệ / invalid procedure)",
            details=[{**entry, "source": source} for entry in entries],
        )
        self.source = source
        self.field = field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class FeeSpec(_Frozen):
    """Lệ phí: an amount in VND and an optional note on exemptions or per-page rates."""

    amount: Annotated[StrictInt, Field(ge=0)]
    note: Text | None = None


class DocumentSpec(_Frozen):
    """One item of thành phần hồ sơ: how many originals and copies, and whether required."""

    name: Text
    originals: Count
    copies: Count
    required: StrictBool

    @field_validator("copies")
    @classmethod
    def _at_least_one_sheet(cls, copies: int, info: ValidationInfo) -> int:
        if copies == 0 and info.data.get("originals") == 0:
            raise ValueError("a document needs at least one original or one copy")
        return copies


class ProcedureSpec(_Frozen):
    """One administrative procedure of the catalogue, as read from its YAML file."""

    code: Annotated[
        str, Field(min_length=1, max_length=50, pattern=r"^\d\.\d{6}(\.[0-9A-Za-z]+)*$")
    ]
    name: Text
    field: Annotated[str, Field(min_length=1, max_length=200)]
    level: Level
    competent_agency_kind: AgencyKind
    competent_unit: Text
    processing_days: Annotated[Decimal, Field(gt=0, le=365)]
    fee: FeeSpec
    documents: Annotated[tuple[DocumentSpec, ...], Field(min_length=1)]
    online_level: OnlineLevel
    process_id: str
    step_shares: dict[str, Decimal]
    legal_basis: Annotated[tuple[Text, ...], Field(min_length=1)]
    notes: Annotated[str, Field(min_length=1, max_length=4000)] | None = None

    @field_validator("processing_days", mode="before")
    @classmethod
    def _no_bool_days(cls, value: Any) -> Any:
        # YAML reads `yes` as True, which Decimal would silently take as 1.
        if isinstance(value, bool):
            raise ValueError("processing_days must be a number of working days")
        return value

    @field_validator("processing_days")
    @classmethod
    def _whole_or_half_days(cls, days: Decimal) -> Decimal:
        # Legal times are whole working days or "1/2 ngày làm việc"; nothing finer. The
        # lower bound first: `1e-999999999 * 2` underflows to 0 and would pass as a multiple.
        twice = days * 2
        if not days.is_finite() or days < HALF_DAY or twice != twice.to_integral_value():
            raise ValueError("processing_days must be a whole or half number of days, from 0.5")
        return days

    @field_validator("process_id")
    @classmethod
    def _known_process(cls, process_id: str) -> str:
        if process_id not in ONE_STOP_PROCESS_TASKS:
            known = ", ".join(sorted(ONE_STOP_PROCESS_TASKS))
            raise ValueError(f"unknown process {process_id!r}; use one of: {known}")
        return process_id

    @field_validator("step_shares", mode="before")
    @classmethod
    def _no_bool_shares(cls, value: Any) -> Any:
        if isinstance(value, Mapping) and any(isinstance(v, bool) for v in value.values()):
            raise ValueError("every share must be a number")
        return value

    @field_validator("step_shares")
    @classmethod
    def _shares_fit_process(
        cls, shares: dict[str, Decimal], info: ValidationInfo
    ) -> dict[str, Decimal]:
        process_id = info.data.get("process_id")
        if process_id is not None:
            expected = set(ONE_STOP_PROCESS_TASKS[process_id])
            missing, extra = expected - set(shares), set(shares) - expected
            if missing or extra:
                raise ValueError(
                    f"keys must be the user tasks of {process_id}: "
                    f"missing {sorted(missing)}, unexpected {sorted(extra)}"
                )
        not_positive = sorted(task for task, share in shares.items() if share <= 0)
        if not_positive:
            raise ValueError(f"shares must be > 0: {not_positive}")
        total = sum(shares.values(), Decimal(0))
        if abs(total - 1) > SHARE_TOLERANCE:
            raise ValueError(f"shares sum to {total}, must sum to 1 (±{SHARE_TOLERANCE})")
        return shares


def _first_field(error: ValidationError) -> str | None:
    for item in error.errors():
        if item["loc"]:
            return ".".join(str(part) for part in item["loc"])
    return None


def _field_errors(error: ValidationError) -> list[dict[str, str]]:
    """One `{"field": dotted.path, "message": ...}` per problem pydantic found."""
    return [
        {
            "field": ".".join(str(part) for part in item["loc"]) or "<root>",
            "message": item["msg"].removeprefix("Value error, "),
        }
        for item in error.errors()
    ]


def _describe(error: ValidationError) -> str:
    return "; ".join(f"{e['field']}: {e['message']}" for e in _field_errors(error))


def parse_procedure(data: Mapping[str, Any], *, source: str) -> ProcedureSpec:
    """Validate one procedure's mapping; raises CatalogueError naming `source` and the field."""
    if not isinstance(data, Mapping):
        raise CatalogueError(
            f"<root>: expected a mapping of procedure fields, got {type(data).__name__}",
            source=source,
            field="<root>",
        )
    try:
        return ProcedureSpec.model_validate(dict(data))
    except ValidationError as e:
        raise CatalogueError(
            _describe(e), source=source, field=_first_field(e), fields=_field_errors(e)
        ) from e


def _read_yaml(path: pathlib.Path) -> Any:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CatalogueError(f"cannot read the file as UTF-8: {e}", source=source) from e
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "malformed YAML"
        raise CatalogueError(
            f"<yaml>: invalid YAML{at}: {problem}", source=source, field="<yaml>"
        ) from e


def load_catalogue(directory: pathlib.Path) -> list[ProcedureSpec]:
    """Load every `*.yaml` (or `*.yml`) procedure file in `directory`, sorted by code.

    Raises CatalogueError naming the file and field on unreadable files, bad YAML, schema
    violations (unknown keys, shares that do not fit the process) and duplicate codes.
    An existing directory without procedure files yields an empty list.
    """
    if not directory.is_dir():
        raise CatalogueError("the catalogue directory does not exist", source=str(directory))
    seen: dict[str, pathlib.Path] = {}
    procedures: list[ProcedureSpec] = []
    files = sorted(
        p for p in directory.iterdir() if p.suffix in _CATALOGUE_SUFFIXES and p.is_file()
    )
    for path in files:
        spec = parse_procedure(_read_yaml(path), source=str(path))
        if spec.code in seen:
            raise CatalogueError(
                f"code: duplicate code {spec.code!r}, already used by {seen[spec.code]}",
                source=str(path),
                field="code",
            )
        seen[spec.code] = path
        procedures.append(spec)
    return sorted(procedures, key=lambda spec: spec.code)
