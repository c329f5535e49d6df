"""Bring a database to a working state: shipped workflows deployed, catalogue loaded, demo data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from engine import demo

# The domain packages attach their runtime hooks and service tasks on import.
from engine import documents as _documents  # noqa: F401
from engine import dossiers as _dossiers  # noqa: F401
from engine import signing_service as _signing_service  # noqa: F401
from engine.catalogue import sync_catalogue
from engine.exchange import statuses as _statuses  # noqa: F401
from engine.runtime.definitions import deploy_directory
from engine.runtime.services import DEFAULT_SERVICES

__all__ = ["SetupReport", "install_shipped"]


@dataclass(frozen=True)
class SetupReport:
    deployed: list[str]
    procedures_added: int
    demo_seeded: bool


def install_shipped(
    session: Session, workflows_dir: Path, *, seed_demo: bool, province: str = "H99"
) -> SetupReport:
    """Deploy changed BPMN files, add missing catalogue procedures, seed demo data if empty."""
    seeded = False
    if seed_demo and demo.is_empty(session):
        demo.seed(session, province)
        seeded = True
    deployed = [
        f"{view.process_id} v{view.version}"
        for view, created in deploy_directory(
            session, workflows_dir, known_services=DEFAULT_SERVICES.names()
        )
        if created
    ]
    added, _ = sync_catalogue(session, workflows_dir / "catalogue")
    return SetupReport(deployed=deployed, procedures_added=added, demo_seeded=seeded)
