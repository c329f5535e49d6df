"""`lienthong dossier request-supplement` and `supplement`: a supplement during processing.

The other `lienthong dossier` commands (receive, show, list, stats) live in `api.cli`; these
join the same group.
"""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["dossier_supplement_app"]

# Merged into `lienthong dossier` (added without a name of its own).
dossier_supplement_app = typer.Typer()
AsUser = Annotated[str, typer.Option("--as", help="Official's username")]


@dossier_supplement_app.command("request-supplement")
def request_supplement_cmd(
    code: Annotated[str, typer.Argument(help="Dossier code, e.g. 000.01.20.H99-260314-0007")],
    as_user: AsUser,
    item: Annotated[list[str], typer.Option("--item", help="A missing document (repeat for each)")],
    reason: Annotated[str | None, typer.Option(help="Why, for the timeline")] = None,
) -> None:
    """The official holding the dossier's step asks for missing documents: status 5, the
    clock stops. Prints the dossier as JSON."""
    from api.cli import _principal, _print_json, _unit_of_work
    from engine.dossiers.reading import dossier_view
    from engine.dossiers.supplements import request_supplement

    with _unit_of_work() as (_, session):
        me = _principal(session, as_user)
        request_supplement(session, me, code, item, reason)
        session.flush()
        view = dossier_view(session, me, code)
    _print_json(view)


@dossier_supplement_app.command("supplement")
def supplement_cmd(
    code: Annotated[str, typer.Argument(help="Dossier code")],
    as_user: AsUser,
    note: Annotated[str | None, typer.Option(help="What the applicant brought")] = None,
) -> None:
    """The receiving desk records the supplement: processing resumes, every deadline moved
    by the working time waited. Prints the dossier as JSON."""
    from api.cli import _principal, _print_json, _unit_of_work
    from engine.dossiers.reading import dossier_view
    from engine.dossiers.supplements import supplement

    with _unit_of_work() as (_, session):
        me = _principal(session, as_user)
        supplement(session, me, code, note)
        session.flush()
        view = dossier_view(session, me, code)
    _print_json(view)
