"""Which agency decides a dossier (the competent agency, cơ quan có thẩm quyền giải quyết).

A desk may name it: any agency of the procedure's kind in the desk's own province
(non-boundary reception, Decree 118/2025). Without a name the agency tree decides: among the
agencies of the procedure's kind and level (a commune-level procedure goes to an agency that
is or lies under a commune, a province-level one to an agency outside every commune and
district), in the receiving agency's province, the nearest to the receiving agency: itself,
then in the subtree of each ancestor outward, the shallowest there. Two equally near (the
province's two departments, for a commune desk) or none is a 422 asking the desk to name it:
picking one of them would route the dossier to an agency that may not decide it.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import takewhile
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.agencies import AGENCY_KINDS, ancestors, get_agency
from engine.errors import InvalidInputError
from storage.models import Agency, Procedure

__all__ = ["competent_agency"]

_LEVEL_NAMES: Final = {"commune": "cấp xã", "district": "cấp huyện", "province": "cấp tỉnh"}
# The local units whose presence above an agency makes it commune (or district) level.
_UNITS: Final = ("commune_pc", "district_pc")


def _province(line: list[Agency]) -> Agency:
    """The province of the agency that ends `line` (its ancestors, the root first): its
    top-level provincial people's committee; without one, its top-level ancestor below the
    ministries (a provincial branch of a vertical line, e.g. a provincial police under its
    ministry); a ministry is its own."""
    return next(
        (a for a in line if a.kind == "province_pc"),
        next((a for a in line if a.kind != "ministry"), line[-1]),
    )


def _level(kinds: Iterable[str | None]) -> str:
    """The level of an agency from the kinds of itself and its ancestors."""
    seen = set(kinds)
    if "commune_pc" in seen:
        return "commune"
    return "district" if "district_pc" in seen else "province"


def _ids(agency: Agency) -> list[str]:
    return agency.path.strip("/").split("/")


def _check_competent(
    procedure: Procedure, receiving: Agency, province: Agency, competent: Agency
) -> Agency:
    # Non-boundary reception (Decree 118/2025) lets a desk receive for a competent agency
    # elsewhere in its province, never beyond it; and the catalogue says which kind of
    # agency decides the procedure, so a dossier never stalls where no lane can take it.
    if not competent.path.startswith(province.path):
        raise InvalidInputError(
            f"Cơ quan {competent.code} ({competent.name}) không thuộc {province.name}: chỉ tiếp "
            "nhận thay cho cơ quan có thẩm quyền trong cùng tỉnh; hãy chọn cơ quan trong tỉnh / "
            f"agency {competent.code} is outside the province of the receiving agency "
            f"{receiving.code} ({province.code}); a desk receives only for competent agencies "
            "of its own province: choose one of them",
            code="competent_outside_province",
            details=[{"field": "competent_agency", "message": "outside the receiving province"}],
        )
    if competent.kind != procedure.competent_agency_kind:
        wanted = AGENCY_KINDS.get(procedure.competent_agency_kind, procedure.competent_agency_kind)
        raise InvalidInputError(
            f"Cơ quan {competent.code} ({AGENCY_KINDS.get(competent.kind, competent.kind)}) không "
            f"có thẩm quyền giải quyết thủ tục {procedure.code}; thẩm quyền: {wanted} "
            f"({procedure.competent_unit}); hãy chọn cơ quan đúng thẩm quyền hoặc bỏ trống "
            f"competent_agency / agency {competent.code} ({competent.kind}) cannot decide "
            f"procedure {procedure.code}, a {procedure.competent_agency_kind} does; give an "
            "agency of that kind or leave competent_agency out",
            code="competent_wrong_kind",
            details=[
                {
                    "field": "competent_agency",
                    "message": f"must be a {procedure.competent_agency_kind}",
                }
            ],
        )
    return competent


def _nearest(session: Session, procedure: Procedure, receiving: Agency, province: Agency) -> Agency:
    """The agency of the procedure's kind and level nearest to `receiving` in `province`.

    Raises InvalidInputError when there is none, or more than one equally near.
    """
    kind = procedure.competent_agency_kind
    rows = session.scalars(
        select(Agency).where(
            Agency.path.startswith(province.path), Agency.kind.in_(sorted({kind, *_UNITS}))
        )
    ).all()
    units = {str(a.id): a.kind for a in rows if a.kind in _UNITS}
    fitting = [
        a
        for a in rows
        if a.kind == kind and _level(units.get(i) for i in _ids(a)) == procedure.level
    ]
    mine = _ids(receiving)

    def distance(a: Agency) -> tuple[int, int]:
        # The deeper the common ancestor, the nearer; under it, the shallower, the nearer.
        shared = sum(
            1 for _ in takewhile(lambda pair: pair[0] == pair[1], zip(mine, _ids(a), strict=False))
        )
        return -shared, len(_ids(a))

    best = min(map(distance, fitting), default=None)
    nearest = [a for a in fitting if distance(a) == best]
    wanted = f"{AGENCY_KINDS.get(kind, kind)} {_LEVEL_NAMES.get(procedure.level, procedure.level)}"
    if not nearest:
        raise InvalidInputError(
            f"Không tìm thấy {wanted} nào trong {province.name} để giải quyết thủ tục "
            f"{procedure.code} ({procedure.competent_unit}); hãy chỉ rõ competent_agency / no "
            f"{kind} at {procedure.level} level in {province.code} to decide procedure "
            f"{procedure.code}: give competent_agency",
            code="competent_not_found",
            details=[{"field": "competent_agency", "message": "required here"}],
        )
    if len(nearest) > 1:
        names = ", ".join(f"{a.code} ({a.name})" for a in nearest)
        codes = ", ".join(a.code for a in nearest)
        raise InvalidInputError(
            f"Không xác định được cơ quan có thẩm quyền giải quyết thủ tục {procedure.code} "
            f"({procedure.competent_unit}): {names} đều là {wanted} gần nhất; hãy chỉ rõ "
            f"competent_agency là cơ quan có thẩm quyền / several agencies, equally near, may "
            f"decide procedure {procedure.code}: {codes}; give competent_agency, the one that "
            "decides it",
            code="competent_ambiguous",
            details=[{"field": "competent_agency", "message": f"one of {codes}"}],
        )
    return nearest[0]


def competent_agency(
    session: Session, procedure: Procedure, receiving: Agency, code: str | None
) -> Agency:
    """The competent agency of a dossier received at `receiving`: the one named by `code`,
    checked, else the one the agency tree gives (see the module's docstring).

    Raises NotFoundError (unknown code), InvalidInputError (outside the receiving province,
    wrong kind; none found, or more than one equally near).
    """
    line = [*reversed(ancestors(session, receiving)), receiving]  # the root first
    province = _province(line)
    if code:
        return _check_competent(procedure, receiving, province, get_agency(session, code))
    if receiving.kind == procedure.competent_agency_kind and procedure.level == _level(
        a.kind for a in line
    ):
        return receiving
    return _nearest(session, procedure, receiving, province)
