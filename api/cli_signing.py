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
    signer = "signer"
    seal = "seal"
    text = "text"


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _parse_box(box: str) -> tuple[float, float, float, float]:
    try:
        x1, y1, x2, y2 = (float(v) for v in box.split(","))
    except ValueError:
        raise _fail(
            f"--box '{box}' phải có dạng x1,y1,x2,y2 (điểm PDF) / --box must be x1,y1,x2,y2 "
            "in PDF points from the bottom left"
        ) from None
    if x2 <= x1 or y2 <= y1:
        raise _fail("--box: cần x1 < x2 và y1 < y2 / --box needs x1 < x2 and y1 < y2")
    return (x1, y1, x2, y2)


def _check_look_options(
    look: Look,
    image: Path | None,
    stamp_line: list[str] | None,
    signer_only: dict[str, object],
) -> None:
    """Refuse option combinations that would be silently ignored."""
    if look in (Look.signer, Look.seal) and image is None:
        what = "chữ ký (xanh)" if look == Look.signer else "con dấu (đỏ)"
        raise _fail(
            f"--appearance {look.value} cần --image PNG: ảnh {what} nền trong suốt / "
            f"--appearance {look.value} needs --image PNG (transparent background)"
        )
    if image is not None and look not in (Look.signer, Look.seal):
        raise _fail(
            f"--image chỉ dùng với --appearance signer hoặc seal, không với {look.value} / "
            f"--image goes with --appearance signer or seal, not {look.value}"
        )
    if stamp_line and look != Look.text:
        raise _fail(
            "--stamp-line chỉ dùng với --appearance text / --stamp-line goes with --appearance text"
        )
    given = [name for name, value in signer_only.items() if value]
    if given and look != Look.signer:
        raise _fail(
            f"{given[0]} chỉ dùng với --appearance signer / {given[0]} goes with "
            "--appearance signer"
        )


def _appearance(
    look: Look,
    pdf: bytes,
    image: bytes | None,
    *,
    stamp_line: list[str] | None,
    title: list[str] | None,
    name: str | None,
    page: int | None,
    box: str | None,
    seal_mm: float,
    subject_name: str,
) -> Any:
    from engine.appearances import seal_over_last_signer, signer_block, text_stamp

    if look == Look.text:
        return text_stamp(stamp_line)
    if look == Look.signer and image is not None:
        return signer_block(
            pdf,
            image,
            title="\n".join(title or ()),
            full_name=name or subject_name,
            page=None if page is None else page - 1,
            box=_parse_box(box) if box else None,
        )
    if look == Look.seal and image is not None:
        return seal_over_last_signer(pdf, image, diameter_mm=seal_mm)
    return None


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
        Look,
        typer.Option(
            help="none; signer: the signer's signature image between title and name "
            "(bottom right of the last page); seal: the agency seal over the left third of "
            "the last signer's image; text: the stamp at the top right of page 1"
        ),
    ] = Look.none,
    image: Annotated[
        Path | None,
        typer.Option(help="PNG, transparent: the signature (blue) or the seal (red)"),
    ] = None,
    stamp_line: Annotated[
        list[str] | None, typer.Option(help="A line of the text stamp (repeat)")
    ] = None,
    title: Annotated[
        list[str] | None,
        typer.Option(help="signer: a line of the position title, e.g. 'KT. CHỦ TỊCH' (repeat)"),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="signer: the full name (default: the certificate's)")
    ] = None,
    page: Annotated[
        int | None, typer.Option(min=1, help="signer: the page, from 1 (default: the last)")
    ] = None,
    box: Annotated[
        str | None,
        typer.Option(help="signer: x1,y1,x2,y2 in PDF points (default: bottom right)"),
    ] = None,
    seal_mm: Annotated[
        float, typer.Option(min=10, max=80, help="seal: diameter in mm (real size)")
    ] = 36.0,
    reason: Annotated[str | None, typer.Option()] = None,
    location: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Sign a PDF (PAdES) with a PKCS#12 file or a PKCS#11 token."""
    from engine.appearances import check_image
    from engine.errors import LienthongError
    from signing.keys import load_pkcs12, open_pkcs11
    from signing.pades import PadesLevel, PadesSigner, SignatureDetails

    if (pkcs12 is None) == (pkcs11_module is None):
        raise _fail("Chọn --pkcs12 hoặc --pkcs11-module / give either --pkcs12 or --pkcs11-module")
    if level != Level.B_B and not tsa:
        raise _fail(f"Mức {level.value} cần --tsa / level {level.value} needs --tsa URL")
    _check_look_options(
        appearance,
        image,
        stamp_line,
        {"--title": title, "--name": name, "--page": page, "--box": box},
    )
    if box:
        _parse_box(box)
    try:
        pdf = source.read_bytes()
        picture = image.read_bytes() if image is not None else None
        if picture is not None:
            check_image(picture, "signer" if appearance == Look.signer else "seal")
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
            look = _appearance(
                appearance,
                pdf,
                picture,
                stamp_line=stamp_line,
                title=title,
                name=name,
                page=page,
                box=box,
                seal_mm=seal_mm,
                subject_name=key.subject_name,
            )
            signed = signer.sign(
                pdf, SignatureDetails(reason=reason, location=location, appearance=look)
            )
        target.write_bytes(signed)
    except OSError as e:
        raise _fail(f"{e.filename}: {e.strerror}", 2) from None
    except (SigningError, LienthongError) as e:
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
