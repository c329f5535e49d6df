"""`lienthong document`: enter, list and show documents, export the registers."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

__all__ = ["document_app"]

document_app = typer.Typer(help="Official documents / văn bản đi, đến", no_args_is_help=True)
AsUser = Annotated[str, typer.Option("--as", help="Official's username")]
# The CLI option of each field of `POST /api/v1/documents`, to name it in error sentences.
_OPTIONS = {
    "code_number": "--number",
    "issued_date": "--issued",
    "issuer.code": "--issuer-code",
    "issuer.name": "--issuer-name",
    "subject": "--subject",
    "notation": "--notation",
    "type_name": "--type",
    "urgency": "--urgency",
    "secrecy": "--secrecy",
    "received_at": "--received-at",
}
# OFFSET takes 64 bits on SQLite and PostgreSQL.
_MAX_OFFSET = 2**63 - 1


@document_app.command("enter")
def enter(
    as_user: AsUser,
    number: Annotated[str, typer.Option(help="The issuer's number (số)")],
    issued: Annotated[str, typer.Option(help="The issuer's date, YYYY-MM-DD")],
    issuer_code: Annotated[str, typer.Option(help="Issuing agency code")],
    issuer_name: Annotated[str, typer.Option(help="Issuing agency name")],
    subject: Annotated[str, typer.Option(help="Trích yếu")],
    notation: Annotated[str | None, typer.Option(help="Ký hiệu, e.g. UBND-VP")] = None,
    type_name: Annotated[str, typer.Option("--type", help="Tên loại")] = "Công văn",
    urgency: Annotated[int, typer.Option(min=0, max=4)] = 0,
    secrecy: Annotated[int, typer.Option(min=0, max=3)] = 0,
    received_at: Annotated[
        str | None,
        typer.Option(help="When it arrived, ISO 8601 with offset (this year; default now)"),
    ] = None,
) -> None:
    """Register an incoming paper document (clerk): prints its arrival number, as JSON.
    The input follows the rules of `POST /api/v1/documents`."""
    from api.cli import _fail, _invalid, _principal, _print_json, _unit_of_work
    from api.routes.documents import DocumentIn
    from engine.documents.drafting import create_document
    from engine.documents.reading import document_view

    try:
        day = date.fromisoformat(issued)
    except ValueError:
        raise _fail(f"--issued '{issued}' không phải ngày YYYY-MM-DD / is not a date") from None
    body: dict[str, Any] = {
        "direction": "incoming",
        "type_name": type_name,
        "subject": subject,
        "code_number": number,
        "notation": notation,
        "issued_date": day,
        "issuer": {"code": issuer_code, "name": issuer_name},
        "urgency": urgency,
        "secrecy": secrecy,
        "received_at": received_at,
    }
    try:
        document = DocumentIn.model_validate(body).document()
    except ValidationError as e:
        raise _invalid(e, _OPTIONS) from None
    with _unit_of_work() as (_, session):
        doc = create_document(session, _principal(session, as_user), document)
        view = document_view(session, doc)
    _print_json(view)


@document_app.command("list")
def list_cmd(
    as_user: AsUser,
    direction: Annotated[str | None, typer.Option(help="incoming | outgoing")] = None,
    year: Annotated[int | None, typer.Option(min=1900, max=9999)] = None,
    q: Annotated[str | None, typer.Option(help="Words in the subject or number")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    offset: Annotated[int, typer.Option(min=0, max=_MAX_OFFSET)] = 0,
) -> None:
    """Documents the official may read, newest first."""
    from rich.table import Table

    from api.cli import _principal, _unit_of_work, out
    from engine.documents.reading import DocumentFilter, list_documents

    with _unit_of_work() as (_, session):
        items, total = list_documents(
            session,
            _principal(session, as_user),
            DocumentFilter(direction=direction, year=year, q=q),
            limit=limit,
            offset=offset,
        )
    table = Table("id", "direction", "number", "issuer", "subject", "status")
    for d in items:
        table.add_row(str(d.id), d.direction, d.code, d.issuer_code, d.subject, d.status_name)
    out.print(table)
    out.print(f"{len(items)} of {total}")


@document_app.command("show")
def show(document_id: int, as_user: AsUser) -> None:
    """A document with its files and timeline, as JSON (an id no document has: not found)."""
    from api.cli import _principal, _print_json, _unit_of_work
    from engine.documents.reading import document_for, document_view

    with _unit_of_work() as (_, session):
        doc = document_for(session, _principal(session, as_user), document_id)
        view = document_view(session, doc, detail=True)
    _print_json(view)


@document_app.command("register")
def register(
    direction: Annotated[str, typer.Argument(help="incoming | outgoing")],
    as_user: AsUser,
    year: Annotated[int, typer.Option(min=1900, max=9999)],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write it (.csv or .xlsx)")],
    secret: Annotated[bool, typer.Option(help="The secret series")] = False,
) -> None:
    """Export the register of the official's agency for a year (CSV or XLSX by --out)."""
    from api.cli import _fail, _principal, _unit_of_work, out
    from engine.documents.registers import REGISTER_COLUMNS, REGISTER_TITLES, register_rows
    from engine.tables import table_csv, table_xlsx

    if out_file.suffix not in (".csv", ".xlsx"):
        raise _fail("--out phải là tệp .csv hoặc .xlsx / --out must end in .csv or .xlsx")
    with _unit_of_work() as (_, session):
        rows = register_rows(session, _principal(session, as_user), direction, year, secret=secret)
    columns = REGISTER_COLUMNS[direction]
    data = (
        table_xlsx(columns, rows, REGISTER_TITLES[direction])
        if out_file.suffix == ".xlsx"
        else table_csv(columns, rows)
    )
    try:
        out_file.write_bytes(data)
    except OSError as e:
        raise _fail(
            f"Không ghi được {out_file} ({e.strerror or type(e).__name__}) / cannot write "
            f"{out_file} ({e.strerror or type(e).__name__})"
        ) from None
    out.print(f"{len(rows)} văn bản / documents → {out_file}")


@document_app.command("deliveries")
def deliveries(document_id: int, as_user: AsUser) -> None:
    """Per recipient of a dispatched document: state (pending, sent, refused, failed,
    undeliverable), latest status, last error and history, as JSON."""
    from dataclasses import asdict

    from api.cli import _principal, _print_json, _unit_of_work
    from engine.documents.deliveries import deliveries_of

    with _unit_of_work() as (_, session):
        rows = deliveries_of(session, _principal(session, as_user), document_id)
    _print_json([asdict(r) for r in rows])


@document_app.command("resend")
def resend(document_id: int, delivery_id: int, as_user: AsUser) -> None:
    """Send again a refused, failed or undeliverable delivery once its cause is fixed (the
    issuing agency's clerk, or an admin); prints the delivery, as JSON."""
    from api.cli import _principal, _print_json, _unit_of_work
    from engine.documents.deliveries import resend_delivery

    with _unit_of_work() as (_, session):
        row = resend_delivery(session, _principal(session, as_user), document_id, delivery_id)
    _print_json(row)
