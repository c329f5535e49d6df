"""Who may read a dossier: one rule for the detail view, the list, the register and its files.

A dossier carries the applicant's identity, ID number, phone and address, so it is read by
the officials who work on it and by those who supervise them, not by everyone above:

- officials of the receiving agency and of the competent agency;
- officials of an agency that held a step (a task) of the dossier's process, before and
  after doing it: the police and the social-insurance office of a liaison dossier;
- in an ancestor of the receiving or the competent agency, only users with a supervising
  role (`SUPERVISING_ROLES`: a leader oversees the dossiers of the units below, an
  administrator answers for the data). A province's archivist, process designer, clerk or
  specialist has no business with a commune's applicants and is refused like an official of
  an uninvolved agency.

Officials of a sub-unit of those agencies are readers only when their unit held a step.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import ColumnElement, CompoundSelect, exists, or_, select, union
from sqlalchemy.orm import Session

from engine.principal import Principal
from storage.models import Agency, Dossier, WorkflowTask

__all__ = [
    "SUPERVISING_ROLES",
    "may_read_dossier",
    "readable_by",
    "readable_ids",
    "subtree_ids",
]

SUPERVISING_ROLES: Final = frozenset({"leader", "admin"})


def readable_by(principal: Principal) -> ColumnElement[bool]:
    """The rule as a SQL condition over `Dossier`: true for the dossiers `principal` may read."""
    mine = principal.agency_id
    held_a_step = exists().where(
        WorkflowTask.instance_id == Dossier.instance_id, WorkflowTask.agency_id == mine
    )
    rules: list[ColumnElement[bool]] = [
        Dossier.receiving_agency_id == mine,
        Dossier.competent_agency_id == mine,
        held_a_step,
    ]
    if principal.has_role(*SUPERVISING_ROLES):
        below = select(Agency.id).where(Agency.path.startswith(principal.agency_path))
        rules += [Dossier.receiving_agency_id.in_(below), Dossier.competent_agency_id.in_(below)]
    return or_(*rules)


def readable_ids(principal: Principal) -> CompoundSelect[tuple[int]]:
    """The rule as the ids of the dossiers `principal` may read: for lists. Each part is an
    index lookup; `readable_by`'s OR with an EXISTS reads the whole dossiers table."""
    mine = principal.agency_id
    parts = [
        select(Dossier.id).where(Dossier.receiving_agency_id == mine),
        select(Dossier.id).where(Dossier.competent_agency_id == mine),
        select(Dossier.id)
        .join(WorkflowTask, WorkflowTask.instance_id == Dossier.instance_id)
        .where(WorkflowTask.agency_id == mine),
    ]
    if principal.has_role(*SUPERVISING_ROLES):
        below = select(Agency.id).where(Agency.path.startswith(principal.agency_path))
        parts += [
            select(Dossier.id).where(Dossier.receiving_agency_id.in_(below)),
            select(Dossier.id).where(Dossier.competent_agency_id.in_(below)),
        ]
    return union(*parts)


def subtree_ids(path: str) -> CompoundSelect[tuple[int]]:
    """The ids of the dossiers an agency subtree (its materialised `path`) handles: received
    there or decided there, each once. A provincial department deciding dossiers that desks
    elsewhere received (liaison, non-boundary reception) counts them as its own; a UNION of
    two index lookups, as `readable_ids`, not an OR that scans the dossiers table."""
    below = select(Agency.id).where(Agency.path.startswith(path))
    return union(
        select(Dossier.id).where(Dossier.receiving_agency_id.in_(below)),
        select(Dossier.id).where(Dossier.competent_agency_id.in_(below)),
    )


def may_read_dossier(session: Session, principal: Principal, dossier: Dossier) -> bool:
    """True when `principal` may read `dossier` (flushed), by `readable_by`."""
    found = session.scalar(
        select(Dossier.id).where(Dossier.id == dossier.id, readable_by(principal))
    )
    return found is not None
