"""`lienthong sign` and `lienthong verify`: PAdES signatures from the command line."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from signing.errors import SigningError

__all__ = ["register"]


class Level(StrEnum):
    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"


class Look(StrEnum):
    none = "none"
    text = "text"


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def sign(
    source: Annotated[Path, typer.Argument(help="The PDF to sign")],
    target: Annotated[Path, typer.Argument(help="Where to write the signed PDF")],
    pkcs12: Annotated[Path | None, typer.Option(help="PKCS#12 key file")] = None,
    password: Annotated[str | None, typer.Option(help="PKCS#12 password")] = None,
    pkcs11_module: Annotated[Path | None, typer.Option(help="PKCS#11 module (.so)")] = None,
    token_label: Annotated[str | None, typer.Option()] = None,
    key_label: Annotated[str | None, typer.Option()] = None,
    pin: Annotated[str | None, typer.Option(help="Token PIN")] = None,
    level: Annotated[Level, typer.Option(help="PAdES level")] = Level.B_B,
    tsa: Annotated[
        str | None, typer.Option(help="RFC 3161 timestamp server URL (B-T and up)")
    ] = None,
    appearance: Annotated[
        Look, typer.Option(help="none, or text: the stamp at the top right of page 1")
    ] = Look.none,
    stamp_line: Annotated[
        list[str] | None, typer.Option(help="A line of the text stamp (repeat)")
    ] = None,
    reason: Annotated[str | None, typer.Option()] = None,
    location: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Sign a PDF (PAdES) with a PKCS#12 file or a PKCS#11 token."""
    from signing.appearance import TextStamp
    from signing.keys import load_pkcs12, open_pkcs11
    from signing.pades import PadesLevel, PadesSigner, SignatureDetails

    if (pkcs12 is None) == (pkcs11_module is None):
        raise _fail("Chọn --pkcs12 hoặc --pkcs11-module / give either --pkcs12 or --pkcs11-module")
    if level != Level.B_B and not tsa:
        raise _fail(f"Mức {level.value} cần --tsa / level {level.value} needs --tsa URL")
    try:
        pdf = source.read_bytes()
        if pkcs12 is not None:
            key = load_pkcs12(pkcs12.read_bytes(), password)
        else:
            key = open_pkcs11(
                str(pkcs11_module),
                token_label=token_label or "",
                key_label=key_label or "",
                pin=pin or "",
            )
        with key:
            signer = PadesSigner(key, PadesLevel(level.value), tsa_url=tsa)
            look = TextStamp(tuple(stamp_line or ())) if appearance == Look.text else None
            signed = signer.sign(
                pdf, SignatureDetails(reason=reason, location=location, appearance=look)
            )
        target.write_bytes(signed)
    except OSError as e:
        raise _fail(f"{e.filename}: {e.strerror}", 2) from None
    except SigningError as e:
        raise _fail(e.message) from None
    typer.echo(f"signed {target} ({level.value}, {key.subject_name})")


def verify(
    files: Annotated[list[Path], typer.Argument(help="PDF files")],
    trust: Annotated[
        list[Path] | None, typer.Option(help="A trusted root CA (PEM or DER; repeat)")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON array, one object per file")
    ] = False,
) -> None:
    """Validate every signature: exit 0 all TOTAL_PASSED, 1 any other, 2 a file unreadable."""
    from engine.signatures import summarise
    from signing.trust import TrustSettings, load_certificates
    from signing.validate import validate_pdf

    try:
        roots = [c for path in trust or [] for c in load_certificates(path.read_bytes())]
    except (OSError, SigningError) as e:
        raise _fail(f"trust: {getattr(e, 'message', None) or e}", 2) from None
    settings = TrustSettings.of(roots)
    results, worst = [], 0
    for path in files:
        entry: dict[str, Any] = {"file": str(path)}
        try:
            report = validate_pdf(path.read_bytes(), settings)
            entry = summarise(str(path), report)
            if not report.signatures or not all(s.passed for s in report.signatures):
                worst = max(worst, 1)
        except OSError as e:
            entry.update(signatures=[], error=f"{e.strerror}")
            worst = 2
        except SigningError as e:
            entry.update(signatures=[], error=e.message)
            worst = 2
        results.append(entry)
    if as_json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        for entry in results:
            for s in entry["signatures"]:
                print(
                    f"{entry['file']}: {s['indication']} {s['sub_indication'] or ''} {s['signer'] or ''} ({s['level']})"
                )
            if "error" in entry:
                print(f"{entry['file']}: {entry['error']}", file=sys.stderr)
    raise typer.Exit(worst)


def register(app: typer.Typer) -> None:
    """Add `sign` and `verify` to the CLI."""
    app.command("sign")(sign)
    app.command("verify")(verify)
