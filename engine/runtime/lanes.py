"""Lanes route user tasks: a lane names a role and the agency it belongs to.

Convention (see docs/bpmn-conventions.md): the lane name is `role@ref`, optionally after a
human label and in brackets — `Chuyên viên thụ lý [specialist@competent]`. `ref` is:

- `case` (default): the agency the case (dossier, document) belongs to;
- `parent`: that agency's parent;
- `competent`: the agency whose code is in the instance data `competent_agency`
  (falls back to the case agency when absent);
- `kind:<kind>`: the agency of that kind nearest the competent agency (itself, then each
  ancestor's subtree): a liaison step belongs near the agency that decides the case, not near
  the desk that received it (non-boundary reception). Several equally near is an error
  (`lane_ambiguous`), never a guess;
- `code:<agency code>`: an explicit agency.

`ROUTING_KEYS` are the data keys that send work to another agency. Only a domain service that
has checked them (dossier reception checks the competent agency against the procedure and the
province) may put them in a case's start data: `refuse_routing_keys` keeps them out of data
that comes straight from a user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy.orm import Session

from engine.agencies import AGENCY_KINDS, ancestors, get_agency, nearest_of_kind
from engine.errors import InvalidInputError, NotFoundError, WorkflowError
from engine.principal import ROLES
from storage.models import Agency

__all__ = ["ROUTING_KEYS", "LaneRef", "parse_lane", "refuse_routing_keys", "resolve_lane"]

_BRACKET = re.compile(r"\[([^\]]+)\]\s*$")
_SPEC = re.compile(r"^(?P<role>[a-z_]+)(?:@(?P<ref>[A-Za-z_]+(?::[A-Za-z0-9_.]+)?))?$")
_SIMPLE_REFS = {"case", "parent", "competent"}
# Read by `competent` and `kind:` lanes, and by the `sign` service (whose key seals).
ROUTING_KEYS: Final = frozenset({"competent_agency"})


@dataclass(frozen=True)
class LaneRef:
    role: str
    ref: str = "case"
    arg: str | None = None


def parse_lane(lane: str) -> LaneRef:
    """Read a lane name; raises WorkflowError naming the lane when it breaks the convention."""
    text = lane.strip()
    bracket = _BRACKET.search(text)
    spec = bracket.group(1).strip() if bracket else text
    match = _SPEC.match(spec)
    if not match or match.group("role") not in ROLES:
        raise _bad_lane(lane, f"role must be one of {sorted(ROLES)}")
    ref = match.group("ref") or "case"
    kind, _, arg = ref.partition(":")
    if kind in _SIMPLE_REFS and not arg:
        return LaneRef(match.group("role"), kind)
    if kind == "kind" and arg in AGENCY_KINDS:
        return LaneRef(match.group("role"), "kind", arg)
    if kind == "code" and arg:
        return LaneRef(match.group("role"), "code", arg.upper())
    raise _bad_lane(lane, "agency must be case, parent, competent, kind:<kind> or code:<code>")


def _bad_lane(lane: str, why: str) -> WorkflowError:
    return WorkflowError(
        f"Lane '{lane}' không đúng quy ước role@agency / lane '{lane}' breaks the role@agency "
        f"convention: {why}",
        code="bpmn_bad_lane",
    )


def refuse_routing_keys(data: dict[str, Any], field: str = "data") -> None:
    """Refuse user-given case data that would route work to another agency.

    Raises InvalidInputError (422) naming each key of `ROUTING_KEYS` found in `data`.
    """
    found = sorted(ROUTING_KEYS.intersection(data))
    if found:
        names = ", ".join(found)
        raise InvalidInputError(
            f"Không được đặt {names} khi khởi động quy trình trực tiếp: cơ quan có thẩm quyền chỉ "
            "được chọn khi tiếp nhận hồ sơ (POST /api/v1/dossiers), nơi nó được kiểm tra; hãy bỏ "
            f"{names} / {names} cannot be set on a process started or retried directly: the "
            "competent agency is chosen at dossier reception (POST /api/v1/dossiers), which "
            f"checks it; leave {names} out",
            code="routing_data_refused",
            details=[{"field": f"{field}.{k}", "message": "reserved for routing"} for k in found],
        )


def _competent(session: Session, case_agency: Agency, data: dict[str, Any]) -> Agency:
    code = data.get("competent_agency")
    return get_agency(session, str(code)) if code else case_agency


def _ambiguous(lane: str, case_agency: Agency, near: list[Agency]) -> WorkflowError:
    names = ", ".join(f"{a.code} ({a.name})" for a in near)
    return WorkflowError(
        f"Lane '{lane}' (hồ sơ của {case_agency.code}) khớp nhiều cơ quan ngang nhau: {names}; "
        "hãy dùng competent hoặc code:<mã> / "
        f"lane '{lane}' for a case of {case_agency.code} matches several equally near agencies: "
        f"{names}; use competent or code:<code> instead",
        code="lane_ambiguous",
    )


def resolve_lane(
    session: Session, lane: str, case_agency: Agency, data: dict[str, Any]
) -> tuple[str, Agency]:
    """The (role, agency) a task in `lane` goes to; raises WorkflowError naming the lane."""
    ref = parse_lane(lane)
    agency: Agency | None
    try:
        if ref.ref == "case":
            agency = case_agency
        elif ref.ref == "parent":
            parents = ancestors(session, case_agency)
            agency = parents[0] if parents else None
        elif ref.ref == "competent":
            agency = _competent(session, case_agency, data)
        elif ref.ref == "kind":
            near = nearest_of_kind(session, _competent(session, case_agency, data), ref.arg or "")
            if len(near) > 1:
                raise _ambiguous(lane, case_agency, near)
            agency = near[0] if near else None
        else:
            agency = get_agency(session, ref.arg or "")
    except NotFoundError:
        agency = None
    if agency is None:
        raise WorkflowError(
            f"Không xác định được cơ quan cho lane '{lane}' (hồ sơ của {case_agency.code}) / "
            f"cannot resolve the agency of lane '{lane}' for a case of {case_agency.code}",
            code="lane_unresolved",
        )
    return ref.role, agency
