from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
from pathlib import Path

import pytest

from signing.appearance import (
    MM,
    AgencySeal,
    Placement,
    SignerSignature,
    TextStamp,
    iso_vietnam_time,
    signer_image_rect,
)
from signing.documents import open_reader
from signing.errors import AppearanceError, SigningError
from signing.fonts import Font, default_font, find_font
from signing.pades import PadesSigner, SignatureDetails
from signing.report import Indication
from signing.validate import validate_pdf
from tests.pki import TestPki
from tests.signing.conftest import key_of, require_tool, trust_of
from tests.signing.images import opaque_png, seal_png, signature_png
from tests.signing.pdfs import A4, append_page, make_pdf, pdfsig
from tests.signing.render import blue, dark, ink_box, pixels, red, render, words

PAGE_H = A4[1]
DPI = 150
PX = DPI / 72  # pixels per point
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


@pytest.fixture(autouse=True)
def _poppler() -> None:
    require_tool("pdftoppm", "pdftotext", "pdffonts")


def _stamp_pdf(pki: TestPki, tmp_path: Path, stamp: TextStamp) -> tuple[Path, bytes]:
    signed = PadesSigner(key_of(pki, pki.seal)).sign(
        make_pdf(), SignatureDetails(field_name="DauThoiGian", appearance=stamp)
    )
    path = tmp_path / "stamped.pdf"
    path.write_bytes(signed)
    return path, signed


def _measured_vs_expected(
    path: Path, rect: tuple[float, ...], font: Font
) -> list[tuple[str, float, float]]:
    """(text, width pdftotext measured, width the font's advances give) per line in rect."""
    inside = [w for w in words(path, PAGE_H) if _within(w.rect, rect)]
    return [(w.text, w.rect[2] - w.rect[0], font.text_width(w.text, 10)) for w in inside]


def _within(inner: tuple[float, ...], outer: tuple[float, ...], slack: float = 1.0) -> bool:
    return (
        inner[0] >= outer[0] - slack
        and inner[1] >= outer[1] - slack
        and inner[2] <= outer[2] + slack
        and inner[3] <= outer[3] + slack
    )


@pytest.mark.parametrize("font_path", [None, DEJAVU], ids=["liberation-serif", "dejavu-sans"])
def test_text_stamp_shows_number_and_vietnam_time_top_right(
    pki_rsa: TestPki, tmp_path: Path, font_path: str | None
) -> None:
    font = Font.load(font_path) if font_path else default_font()
    stamp = TextStamp(("Số: 12/QĐ-UBND",), font=font)
    path, signed = _stamp_pdf(pki_rsa, tmp_path, stamp)
    placement, _ = stamp.resolve(open_reader(signed))
    x0, y0, x1, y1 = placement.rect
    assert x1 == pytest.approx(A4[0] - 15 * MM) and y1 == pytest.approx(PAGE_H - 8 * MM)

    (sig,) = validate_pdf(signed, trust_of(pki_rsa)).signatures
    assert sig.indication is Indication.TOTAL_PASSED
    assert sig.claimed_time is not None
    iso = iso_vietnam_time(sig.claimed_time)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", iso)

    lines = _measured_vs_expected(path, placement.rect, font)
    assert [text for text, _, _ in lines] == ["Số: 12/QĐ-UBND", f"Thời gian ký: {iso}"]
    for text, measured, expected in lines:
        # glyphs advance by their real widths: not stretched apart, not piled up
        assert measured == pytest.approx(expected, rel=0.03), text

    img = render(path, placement.rect, PAGE_H, DPI)
    box = ink_box(img, dark)
    assert box is not None, "the stamp region is blank"
    ink_width = (box[2] - box[0]) / PX
    widest = max(expected for _, _, expected in lines)
    assert ink_width == pytest.approx(widest, rel=0.08)
    assert sum(1 for p in pixels(img) if dark(*p)) > 400


def test_width_check_catches_fonts_not_rescaled(pki_rsa: TestPki, tmp_path: Path) -> None:
    """The check above fails for pyHanko's own handling of a 2048-unit font."""
    raw = Font(Path(DEJAVU).read_bytes(), "DejaVuSans")  # as shipped: 2048 units per em
    scaled = Font.load(DEJAVU)
    stamp = TextStamp(("Số: 12/QĐ-UBND",), font=raw)
    path, signed = _stamp_pdf(pki_rsa, tmp_path, stamp)
    placement, _ = stamp.resolve(open_reader(signed))
    wide = Placement(0, (0, placement.rect[1], A4[0], placement.rect[3]))
    lines = _measured_vs_expected(path, wide.rect, scaled)
    assert lines, "text not found at all"
    ratios = [measured / expected for _, measured, expected in lines]
    assert all(r > 1.5 for r in ratios), ratios  # mis-spaced by 2048/1000


def _signer(box: tuple[float, float, float, float] = (330, 480, 530, 600)) -> SignerSignature:
    return SignerSignature(
        Placement(0, box), "KT. CHỦ TỊCH\nPHÓ CHỦ TỊCH", "Nguyễn Văn Ánh", signature_png()
    )


def test_signer_signature_puts_the_image_between_title_and_name(
    pki_rsa: TestPki, tmp_path: Path
) -> None:
    appearance = _signer()
    signed = PadesSigner(key_of(pki_rsa, pki_rsa.official)).sign(
        make_pdf(), SignatureDetails(field_name="LanhDao", appearance=appearance)
    )
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    box = appearance.placement.rect
    found = [w for w in words(path, PAGE_H) if _within(w.rect, box)]
    assert [w.text for w in found] == ["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH", "Nguyễn Văn Ánh"]
    title_bottom, name_top = found[1].rect[1], found[2].rect[3]

    img = render(path, box, PAGE_H, DPI)
    ink = ink_box(img, blue)
    assert ink is not None, "no blue signature drawn"
    ink_top = box[3] - ink[1] / PX
    ink_bottom = box[3] - ink[3] / PX
    assert name_top < ink_bottom and ink_top < title_bottom
    centre = box[0] + (ink[0] + ink[2]) / 2 / PX
    assert centre == pytest.approx((box[0] + box[2]) / 2, abs=3)
    assert (signer_image_rect(open_reader(signed), "LanhDao")) == (0, appearance.image_rect())
    (sig,) = validate_pdf(signed, trust_of(pki_rsa)).signatures
    assert sig.indication is Indication.TOTAL_PASSED


def _leader_then_seal(pki: TestPki, flow: str) -> tuple[bytes, tuple[float, float, float, float]]:
    leader = _signer()
    if flow == "approval-then-locking-seal":
        first = PadesSigner(key_of(pki, pki.official)).sign(
            make_pdf(), SignatureDetails(field_name="LanhDao", appearance=leader)
        )
        page, image = signer_image_rect(open_reader(first), "LanhDao")
        seal = AgencySeal(seal_png(), page, image, diameter_mm=36)
        details = SignatureDetails(field_name="CoQuan", appearance=seal, lock=True)
    else:  # the leader certifies and reserves the seal's field
        image = leader.image_rect()
        seal = AgencySeal(seal_png(), 0, image, diameter_mm=36)
        first = PadesSigner(key_of(pki, pki.official)).sign(
            make_pdf(),
            SignatureDetails(
                field_name="LanhDao",
                certify=True,
                appearance=leader,
                reserve=(("CoQuan", seal.placement),),
            ),
        )
        details = SignatureDetails(field_name="CoQuan", appearance=seal)
    return PadesSigner(key_of(pki, pki.seal)).sign(first, details), image


@pytest.mark.parametrize("flow", ["approval-then-locking-seal", "certified-with-reserved-field"])
def test_agency_seal_covers_the_left_third_of_the_signature(
    pki_rsa: TestPki, tmp_path: Path, nss_db: Path, flow: str
) -> None:
    both, image = _leader_then_seal(pki_rsa, flow)
    path = tmp_path / "both.pdf"
    path.write_bytes(both)
    region = (image[0] - 40 * MM, image[1] - 15 * MM, image[2] + 5, image[3] + 15 * MM)
    img = render(path, region, PAGE_H, DPI)
    red_ink, blue_ink = ink_box(img, red), ink_box(img, blue)
    assert red_ink is not None and blue_ink is not None
    seal_right = region[0] + red_ink[2] / PX
    third = image[0] + (image[2] - image[0]) / 3
    assert seal_right == pytest.approx(third, abs=2)  # ends a third into the signature
    assert region[0] + blue_ink[2] / PX > seal_right + 20  # the rest of the signature shows
    assert (red_ink[2] - red_ink[0]) / PX == pytest.approx(36 * MM, rel=0.03)  # real size
    report = validate_pdf(both, trust_of(pki_rsa))
    assert [s.indication for s in report.signatures] == [Indication.TOTAL_PASSED] * 2, report
    assert [s.signer_name for s in report.signatures] == [
        "Nguyễn Văn Ánh",
        "Ủy ban nhân dân tỉnh Hà Nam",
    ]
    poppler = pdfsig(str(path), nssdir=str(nss_db))
    assert poppler.valid == [True, True] and poppler.trusted == [True, True], poppler.output


def test_locking_seal_refuses_more_signatures_and_exposes_edits(pki_rsa: TestPki) -> None:
    both, _ = _leader_then_seal(pki_rsa, "approval-then-locking-seal")
    with pytest.raises(SigningError) as e:
        PadesSigner(key_of(pki_rsa, pki_rsa.official)).sign(both)
    assert e.value.code == "document_locked"
    leader, seal = validate_pdf(append_page(both), trust_of(pki_rsa)).signatures
    assert not leader.certification and not seal.certification
    assert seal.modified_after_signing and seal.indication is Indication.INDETERMINATE


def test_visible_signature_after_certification_needs_a_reserved_field(pki_rsa: TestPki) -> None:
    first = PadesSigner(key_of(pki_rsa, pki_rsa.official)).sign(
        make_pdf(), SignatureDetails(field_name="LanhDao", certify=True, appearance=_signer())
    )
    seal = AgencySeal(seal_png(), 0, _signer().image_rect())
    with pytest.raises(SigningError) as e:
        PadesSigner(key_of(pki_rsa, pki_rsa.seal)).sign(first, SignatureDetails(appearance=seal))
    assert e.value.code == "certified_document_needs_field"


def test_fonts_are_embedded_subsets(pki_rsa: TestPki, tmp_path: Path) -> None:
    path, _ = _stamp_pdf(pki_rsa, tmp_path, TextStamp(("SAO Y", "Ủy ban nhân dân tỉnh Hà Nam")))
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    row = next(line for line in out.splitlines() if "LiberationSerif" in line or "DejaVu" in line)
    assert re.search(r"\+\S+-Identity-H\s+CID TrueType\s+Identity-H\s+yes\s+yes\s+yes", row), row


def test_font_is_times_compatible_and_rescaled_to_1000_units() -> None:
    if "liberation2" not in str(find_font()):
        msg = "Liberation Serif 2 missing (Debian: fonts-liberation2)"
        if os.environ.get("CI"):
            pytest.fail(f"{msg}; under CI it may not skip")
        pytest.skip(msg)
    font = default_font()
    assert font.covers("Thời gian ký: Nguyễn Văn Ánh, ỦY BAN NHÂN DÂN, Đ ư ợ ỡ")
    # Times New Roman metrics: "Số" is about 0.5 + 0.5 em
    assert font.text_width("S", 1000) == pytest.approx(556, abs=2)


@pytest.mark.parametrize(
    ("appearance", "code"),
    [
        (
            SignerSignature(Placement(0, (330, 480, 530, 600)), "CHỦ TỊCH", "A", opaque_png()),
            "bad_image",
        ),
        (AgencySeal(signature_png(), 0, (300, 500, 400, 560)), "bad_image_colour"),
        (
            SignerSignature(Placement(0, (330, 480, 530, 500)), "CHỦ TỊCH", "A", signature_png()),
            "box_too_small",
        ),
        (
            SignerSignature(Placement(3, (330, 480, 530, 600)), "CHỦ TỊCH", "A", signature_png()),
            "no_such_page",
        ),
    ],
    ids=["opaque", "seal-not-red", "box-too-low", "no-such-page"],
)
def test_bad_appearances_are_refused(pki_rsa: TestPki, appearance: object, code: str) -> None:
    with pytest.raises(AppearanceError) as e:
        PadesSigner(key_of(pki_rsa, pki_rsa.official)).sign(
            make_pdf(),
            SignatureDetails(appearance=appearance),  # type: ignore[arg-type]
        )
    assert e.value.code == code


def test_iso_vietnam_time_is_utc_plus_7() -> None:
    moment = dt.datetime(2026, 3, 14, 2, 30, 5, 123, tzinfo=dt.UTC)
    assert iso_vietnam_time(moment) == "2026-03-14T09:30:05+07:00"
