"""`lienthong dossier …`: the one-stop dossier commands, through the services and the input
schema of `/api/v1/dossiers` (receive, show, list, stats, register, request-supplement,
supplement)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Column, Table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.principal import Principal
    from storage.models import Dossier

__all__ = ["dossier_app"]

dossier_app = typer.Typer(help="One-stop dossiers / hồ sơ một cửa", no_args_is_help=True)
AsUser = Annotated[str, typer.Option("--as", help="Official's username")]
_PERIOD = "a date YYYY-MM-DD (its 00:00 in Vietnam) or an ISO 8601 instant with its offset"
# The bounds of `GET /api/v1/dossiers`: a page of at most 200; OFFSET takes 64 bits on SQLite
# and PostgreSQL, and the API answers 422 past them.
_MAX_LIMIT = 200
_MAX_OFFSET = 2**63 - 1
From = Annotated[str | None, typer.Option("--from", help=f"Received at or after: {_PERIOD}")]
To = Annotated[str | None, typer.Option("--to", help=f"Received before (exclusive): {_PERIOD}")]

# The CLI option of each field of the reception schema, to name it in error sentences, and
# what to type where the schema's own message would only quote its pattern.
_OPTIONS = {
    "procedure_code": "--procedure",
    "applicant.full_name": "--name",
    "applicant.id_number": "--id-number",
    "applicant.phone": "--phone",
    "applicant.email": "--email",
    "applicant.address": "--address",
    "missing_documents": "--missing",
    "received_at": "--received-at",
    "refusal_reason": "--refusal-reason",
    "competent_agency": "--competent-agency",
}
_PATTERN_HINTS = {
    "applicant.id_number": "cần 12 chữ số CCCD hoặc 9 chữ số CMND / 9 or 12 digits",
    "applicant.phone": "cần số điện thoại / a phone number, 8 to 20 digits",
    "applicant.email": "cần địa chỉ email / an email address, e.g. ten@example.vn",
}


class Channel(StrEnum):
    counter = "counter"
    online = "online"
    post = "post"


def _act_then_show(as_user: str, act: Callable[[Session, Principal], Dossier]) -> None:
    """Do `act` as the official in one transaction, then print the dossier it changed."""
    from api.cli import _principal, _print_json, _unit_of_work
    from engine.dossiers.reading import dossier_view

    with _unit_of_work() as (_, session):
        me = _principal(session, as_user)
        code = act(session, me).code
        session.flush()
        view = dossier_view(session, me, code)
    _print_json(view)


def _instant(value: str | None, option: str) -> dt.datetime | None:
    """A period bound from the command line; a date is its first instant in Vietnam."""
    from api.cli import _fail
    from engine.calendar import VN_TZ

    if value is None:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), VN_TZ)
    except ValueError:
        pass
    try:
        moment: dt.datetime | None = dt.datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise _fail(
            f"{option} '{value}' phải là ngày YYYY-MM-DD hoặc thời điểm ISO 8601 có múi giờ "
            f"(vd. 2026-03-01T08:00+07:00) / {option} must be a date YYYY-MM-DD or an ISO 8601 "
            "instant with its offset, e.g. 2026-03-01T08:00+07:00"
        )
    return moment


@dossier_app.command("receive")
def receive_cmd(
    procedure: Annotated[str, typer.Option(help="Procedure code, e.g. 1.001193")],
    name: Annotated[str, typer.Option(help="Applicant's full name")],
    id_number: Annotated[str, typer.Option(help="CCCD (12 digits) or CMND (9)")],
    phone: Annotated[str, typer.Option(help="Applicant's phone")],
    as_user: Annotated[str, typer.Option("--as", help="Reception official's username")],
    email: Annotated[str | None, typer.Option(help="Applicant's email")] = None,
    address: Annotated[str | None, typer.Option(help="Applicant's address")] = None,
    channel: Annotated[Channel, typer.Option(help="How it was received")] = Channel.counter,
    missing: Annotated[
        list[str] | None, typer.Option(help="A missing document (repeat); makes it incomplete")
    ] = None,
    refusal_reason: Annotated[
        str | None, typer.Option(help="Refuse it (not eligible, not competent) for this reason")
    ] = None,
    competent_agency: Annotated[
        str | None,
        typer.Option(help="Agency code deciding it, elsewhere in the province (non-boundary)"),
    ] = None,
    received_at: Annotated[
        str | None, typer.Option(help="ISO 8601 with offset, for a paper dossier received earlier")
    ] = None,
) -> None:
    """Receive a dossier at the official's desk, as `POST /api/v1/dossiers`; prints it as
    JSON. Without --missing or --refusal-reason it is complete and processing starts."""
    from api.cli import _invalid
    from api.schemas import ReceptionIn
    from engine.dossiers.reception import receive

    applicant = {"full_name": name, "id_number": id_number, "phone": phone}
    body: dict[str, Any] = {
        "procedure_code": procedure,
        "applicant": applicant | {"email": email, "address": address},
        "channel": channel.value,
        "complete": not (missing or refusal_reason),
        "missing_documents": list(missing or []),
        "received_at": received_at,
        "refusal_reason": refusal_reason,
        "competent_agency": competent_agency,
    }
    try:
        reception = ReceptionIn.model_validate(body).reception()
    except ValidationError as e:
        raise _invalid(e, _OPTIONS, _PATTERN_HINTS) from None
    _act_then_show(as_user, lambda session, me: receive(session, me, reception))


@dossier_app.command("show")
def show_cmd(
    code: Annotated[str, typer.Argument(help="Dossier code, e.g. 000.01.20.H99-260314-0007")],
    as_user: AsUser,
) -> None:
    """A dossier with its timeline and how its result was returned, as JSON."""
    from api.cli import _principal, _print_json, _unit_of_work
    from engine.dossiers.reading import dossier_view

    with _unit_of_work() as (_, session):
        view = dossier_view(session, _principal(session, as_user), code)
    _print_json(view)


@dossier_app.command("list")
def list_cmd(
    as_user: AsUser,
    status: Annotated[int | None, typer.Option(min=1, max=10, help="Status 1–10")] = None,
    procedure: Annotated[str | None, typer.Option(help="Procedure code")] = None,
    overdue: Annotated[
        bool | None, typer.Option("--overdue/--not-overdue", help="Only (not) overdue ones")
    ] = None,
    received_from: From = None,
    received_to: To = None,
    limit: Annotated[int, typer.Option(min=1, max=_MAX_LIMIT)] = 50,
    offset: Annotated[int, typer.Option(min=0, max=_MAX_OFFSET)] = 0,
) -> None:
    """Dossiers the official may read (see `engine.dossiers.access`), newest first, filtered
    as `GET /api/v1/dossiers`."""
    from api.cli import _principal, _unit_of_work, out
    from engine.calendar import VN_TZ
    from engine.dossiers.reading import list_dossiers

    start, end = _instant(received_from, "--from"), _instant(received_to, "--to")
    with _unit_of_work() as (_, session):
        items, total = list_dossiers(
            session,
            _principal(session, as_user),
            status=status,
            procedure=procedure,
            overdue=overdue,
            received_from=start,
            received_to=end,
            limit=limit,
            offset=offset,
        )
    code = Column("code", no_wrap=True, min_width=26)
    table = Table(code, "procedure", "status", "received (VN)", "due (VN)")
    for d in items:
        times = (
            f"{t.astimezone(VN_TZ):%Y-%m-%d %H:%M}" if t else "" for t in (d.received_at, d.due_at)
        )
        table.add_row(d.code, d.procedure_name, d.status_name, *times)
    out.print(table)
    first = offset + 1 if items else offset
    out.print(f"{first}–{offset + len(items)} of {total}")


@dossier_app.command("stats")
def stats_cmd(
    as_user: AsUser,
    agency: Annotated[
        str | None, typer.Option(help="Agency code (default: the official's)")
    ] = None,
    received_from: From = None,
    received_to: To = None,
) -> None:
    """Timeliness figures (early / on time / overdue, on-time rate) of the dossiers the
    agency received or decides, received in the period, as `GET /api/v1/stats/timeliness`;
    prints JSON."""
    from api.cli import _principal, _print_json, _unit_of_work
    from engine.dossiers.stats import timeliness_stats

    start, end = _instant(received_from, "--from"), _instant(received_to, "--to")
    with _unit_of_work() as (_, session):
        me = _principal(session, as_user)
        result = timeliness_stats(session, me, agency=agency, start=start, end=end)
    _print_json(result)


@dossier_app.command("register")
def register_cmd(
    as_user: AsUser,
    received_from: Annotated[str, typer.Option("--from", help=f"Received at or after: {_PERIOD}")],
    received_to: Annotated[str, typer.Option("--to", help=f"Received before: {_PERIOD}")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write it (.csv or .xlsx)")],
) -> None:
    """Form 06, the dossier tracking register of the period, as `GET /api/v1/dossier-register`:
    the dossiers the official's agency subtree received or decides, to a CSV or XLSX file."""
    from api.cli import _fail, _principal, _unit_of_work, out
    from engine.dossiers.register import register_csv, register_rows, register_xlsx

    render = {".csv": register_csv, ".xlsx": register_xlsx}.get(out_file.suffix.lower())
    if render is None:
        raise _fail("--out phải là tệp .csv hoặc .xlsx / --out must end in .csv or .xlsx")
    start, end = _instant(received_from, "--from"), _instant(received_to, "--to")
    assert start is not None and end is not None
    with _unit_of_work() as (_, session):
        rows = register_rows(session, _principal(session, as_user), start, end)
    try:
        out_file.write_bytes(render(rows))
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise _fail(
            f"Không ghi được {out_file} ({why}) / cannot write {out_file} ({why})"
        ) from None
    out.print(f"{len(rows)} hồ sơ / dossiers → {out_file}")


@dossier_app.command("request-supplement")
def request_supplement_cmd(
    code: Annotated[str, typer.Argument(help="Dossier code, e.g. 000.01.20.H99-260314-0007")],
    as_user: AsUser,
    item: Annotated[list[str], typer.Option("--item", help="A missing document (repeat for each)")],
    reason: Annotated[str | None, typer.Option(help="Why, for the timeline")] = None,
) -> None:
    """The official holding the dossier's step asks for missing documents: status 5, the
    clock stops. Prints the dossier as JSON."""
    from engine.dossiers.supplements import request_supplement

    _act_then_show(as_user, lambda session, me: request_supplement(session, me, code, item, reason))


@dossier_app.command("supplement")
def supplement_cmd(
    code: Annotated[str, typer.Argument(help="Dossier code")],
    as_user: AsUser,
    note: Annotated[str | None, typer.Option(help="What the applicant brought")] = None,
) -> None:
    """The receiving desk records the supplement: processing resumes, every deadline moved
    by the working time waited. Prints the dossier as JSON."""
    from engine.dossiers.supplements import supplement

    _act_then_show(as_user, lambda session, me: supplement(session, me, code, note))
