"""`lienthong edxml validate`: check an edXML package (QCVN 102:2016) from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["edxml_app"]

edxml_app = typer.Typer(help="edXML packages (QCVN 102:2016) / gói tin edXML", no_args_is_help=True)


def _unreadable(message: str, as_json: bool) -> typer.Exit:
    error = {"code": "X.Unreadable", "path": "", "message": message}
    if as_json:
        typer.echo(json.dumps({"valid": False, "errors": [error]}, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@edxml_app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="The .edxml package")],
    as_json: Annotated[bool, typer.Option("--json", help='{"valid", "errors": [...]}')] = False,
    cert: Annotated[
        Path | None,
        typer.Option(help="Sender's certificate (PEM or DER): the signature must be by it"),
    ] = None,
    unsigned: Annotated[
        bool,
        typer.Option(
            "--unsigned", help="Check the structure only: a package without a signature passes"
        ),
    ] = False,
) -> None:
    """Check a package: exit 0 valid, 1 invalid, 2 unreadable (missing, not XML, hostile).

    The signature must be there and hold: against --cert when given, else against the
    certificate the package carries (proving it unchanged, not who signed it)."""
    from engine.exchange.validation import UNREADABLE, validate
    from signing.trust import load_certificates

    try:
        data = file.read_bytes()
    except OSError as e:
        raise _unreadable(f"{file}: {e.strerror}", as_json) from None
    certificate = None
    if cert is not None:
        try:
            certificate = load_certificates(cert.read_bytes())[0]
        except (OSError, ValueError, IndexError) as e:
            raise _unreadable(
                f"{cert}: không đọc được chứng thư / cannot read the certificate ({e})", as_json
            ) from None
    issues = validate(data, certificate=certificate, signed=not unsigned)
    if as_json:
        body = {"valid": not issues, "errors": [i.as_dict() for i in issues]}
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
    elif issues:
        for issue in issues:
            typer.echo(f"{file}: {issue.code} {issue.path} — {issue.message}")
    else:
        typer.echo(f"{file}: hợp lệ / valid")
    if any(i.code in UNREADABLE for i in issues):
        raise typer.Exit(2)
    raise typer.Exit(1 if issues else 0)
