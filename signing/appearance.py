"""Visible signatures as Decree 30/2020 appendix I draws them.

    SignerSignature   box 7c: position title, the handwritten signature image (blue PNG,
                      transparent) centred between title and full name
    AgencySeal        box 8: the agency's red seal image at its real size, covering about
                      the left third of the signer's signature image
    TextStamp         separate attachments and e-copies (box 14): no image, top right of
                      page 1, number and notation (or copy form and agency) and the signing
                      time in ISO 8601, Vietnam time; Times New Roman 10 pt, black

Coordinates are PDF points from the bottom-left of the page; pages count from 0. Text is
set with a Times-compatible Vietnamese TrueType font (see `signing.fonts`).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any, Protocol

from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.images import pil_image
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.stamp import BaseStamp, TextStampStyle

from signing.errors import AppearanceError
from signing.fonts import Font, default_font
from signing.placement import IMAGE_NAME, MM, Placement, Rect, page_box, signer_image_rect

__all__ = [
    "MM",
    "VIETNAM_TIME",
    "AgencySeal",
    "Appearance",
    "Placement",
    "Rect",
    "SignerSignature",
    "TextStamp",
    "iso_vietnam_time",
    "signer_image_rect",
]

VIETNAM_TIME = dt.timezone(dt.timedelta(hours=7), "ICT")
_PAD = 2.0
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def iso_vietnam_time(moment: dt.datetime) -> str:
    """ISO 8601 in Vietnam time, to the second: 2026-03-14T09:30:00+07:00."""
    return moment.astimezone(VIETNAM_TIME).isoformat(timespec="seconds")


class Appearance(Protocol):
    """A visible signature: where it goes in a document, and how it is drawn."""

    def resolve(self, reader: PdfFileReader) -> tuple[Placement, TextStampStyle]: ...


def _load_png(data: bytes, what: str, hue: str) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise AppearanceError(
            f"Ảnh {what} không đọc được / The {what} image cannot be read", code="bad_image"
        ) from e
    if img.format != "PNG" or not (img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info):
        raise AppearanceError(
            f"Ảnh {what} phải là PNG nền trong suốt (Nghị định 30/2020, Phụ lục I) / "
            f"The {what} image must be a PNG with a transparent background",
            code="bad_image",
        )
    rgba = img.convert("RGBA")
    r, g, b = _mean_ink(rgba)
    ok = b > r and b > g if hue == "blue" else r > g and r > b
    if not ok:
        raise AppearanceError(
            f"Ảnh {what} phải màu {'xanh' if hue == 'blue' else 'đỏ'} / "
            f"The {what} image must be {hue}",
            code="bad_image_colour",
        )
    return rgba


def _mean_ink(img: Image.Image) -> tuple[float, float, float]:
    small = img.copy()
    small.thumbnail((64, 64))
    raw = small.tobytes()  # RGBA, 4 bytes a pixel
    ink = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 4) if raw[i + 3] > 128]
    if not ink:
        raise AppearanceError(
            "Ảnh trong suốt hoàn toàn / The image is fully transparent", code="bad_image"
        )
    n = len(ink)
    return (sum(p[0] for p in ink) / n, sum(p[1] for p in ink) / n, sum(p[2] for p in ink) / n)


@dataclass(frozen=True)
class _Line:
    text: str
    font: Font
    size: float
    x: float  # left edge, or centre when centred
    baseline: float
    centred: bool


@dataclass(frozen=True)
class _Picture:
    image: Image.Image
    rect: Rect  # inside the widget box
    name: str


class _Stamp(BaseStamp):
    """Draws pictures, then lines of text, in a widget box of the given size."""

    def __init__(
        self,
        writer: BasePdfFileWriter,
        style: _Style,
        box: layout.BoxConstraints,
        text_params: dict[str, Any],
    ) -> None:
        super().__init__(writer, style, box)
        self._text_params = text_params

    def _render_inner_content(self) -> list[bytes]:
        style: _Style = self.style
        writer = self.writer
        assert writer is not None
        when = dt.datetime.strptime(self._text_params["ts"], _TS_FORMAT)
        pictures, lines = style.layout(self.box.width, self.box.height, when)
        ops: list[bytes] = []
        for pic in pictures:
            ref = pil_image(pic.image, writer)
            self.set_resource(ResourceType.XOBJECT, generic.NameObject(pic.name), ref)
            x1, y1, x2, y2 = pic.rect
            ops.append(
                b"q %g 0 0 %g %g %g cm %s Do Q" % (x2 - x1, y2 - y1, x1, y1, pic.name.encode())
            )
        engines: dict[tuple[str, float], tuple[str, Any]] = {}
        for line in lines:
            key = (line.font.name, line.size)
            if key not in engines:
                engines[key] = (f"/F{len(engines) + 1}", line.font.engine(writer, line.size))
                self.set_resource(
                    ResourceType.FONT,
                    generic.NameObject(engines[key][0]),
                    engines[key][1].as_resource(),
                )
            name, engine = engines[key]
            shaped = engine.shape(line.text)
            x = line.x - shaped.x_advance * line.size / 2 if line.centred else line.x
            ops.append(
                b"BT 0 g %s %g Tf %g %g Td %s ET"
                % (name.encode(), line.size, x, line.baseline, shaped.graphics_ops)
            )
        return ops


@dataclass(frozen=True)
class _Style(TextStampStyle):
    """pyHanko stamp style delegating the drawing to one of our appearances."""

    drawing: Any = None

    def create_stamp(  # type: ignore[override]  # any BaseStamp will do for pyHanko
        self, writer: BasePdfFileWriter, box: layout.BoxConstraints, text_params: dict[str, Any]
    ) -> _Stamp:
        return _Stamp(writer, self, box, text_params)

    def layout(
        self, width: float, height: float, when: dt.datetime
    ) -> tuple[list[_Picture], list[_Line]]:
        result: tuple[list[_Picture], list[_Line]] = self.drawing.layout(width, height, when)
        return result


def _style(drawing: Any) -> _Style:
    return _Style(border_width=0, timestamp_format=_TS_FORMAT, drawing=drawing)


def _fit_size(font: Font, texts: list[str], size: float, width: float) -> float:
    widest = max((font.text_width(t, size) for t in texts), default=0.0)
    return size if widest <= width else size * width / widest


def _check_text(font: Font, texts: list[str]) -> None:
    missing = [t for t in texts if not font.covers(t)]
    if missing:
        raise AppearanceError(
            f"Phông chữ {font.name} thiếu ký tự cho: {missing[0]!r} / "
            f"Font {font.name} lacks glyphs for {missing[0]!r}",
            code="font_lacks_glyphs",
        )


@dataclass(frozen=True)
class SignerSignature:
    """The competent person's signature (box 7c): title, signature image, full name."""

    placement: Placement
    title: str  # one line per "\n", e.g. "KT. CHỦ TỊCH\nPHÓ CHỦ TỊCH"
    full_name: str
    signature_png: bytes
    font_size: float = 13.0
    font: Font | None = None  # default: bold Times-compatible

    def resolve(self, reader: PdfFileReader) -> tuple[Placement, TextStampStyle]:
        page_box(reader, self.placement.page)
        _check_text(self._font, [*self.title.split("\n"), self.full_name])
        return self.placement, _style(self)

    @property
    def _font(self) -> Font:
        return self.font or default_font("bold")

    def _bands(self, width: float, height: float) -> tuple[float, float, Rect]:
        titles = self.title.split("\n")
        size = _fit_size(self._font, [*titles, self.full_name], self.font_size, width - 2 * _PAD)
        lead = 1.2 * size
        band = (_PAD, _PAD + lead + 0.3 * size, width - _PAD, height - _PAD - lead * len(titles))
        if band[3] - band[1] < 2 * size:
            raise AppearanceError(
                "Khung chữ ký quá thấp cho ảnh chữ ký / The signature box is too low for the image",
                code="box_too_small",
            )
        return size, lead, band

    def _image_in(self, band: Rect) -> tuple[Image.Image, Rect]:
        img = _load_png(self.signature_png, "chữ ký / signature", "blue")
        bw, bh = band[2] - band[0], band[3] - band[1]
        scale = min(bw / img.width, bh / img.height)
        w, h = img.width * scale, img.height * scale
        x = band[0] + (bw - w) / 2
        y = band[1] + (bh - h) / 2
        return img, (x, y, x + w, y + h)

    def layout(
        self, width: float, height: float, when: dt.datetime
    ) -> tuple[list[_Picture], list[_Line]]:
        size, lead, band = self._bands(width, height)
        img, rect = self._image_in(band)
        font = self._font
        lines = [
            _Line(t, font, size, width / 2, height - _PAD - lead * (i + 1) + 0.25 * size, True)
            for i, t in enumerate(self.title.split("\n"))
        ]
        lines.append(_Line(self.full_name, font, size, width / 2, _PAD + 0.3 * size, True))
        return [_Picture(img, rect, IMAGE_NAME)], lines

    def image_rect(self) -> Rect:
        """Where the signature image lands on the page (for placing the seal)."""
        x0, y0 = self.placement.rect[:2]
        _, _, band = self._bands(self.placement.width, self.placement.height)
        _, (x1, y1, x2, y2) = self._image_in(band)
        return (x0 + x1, y0 + y1, x0 + x2, y0 + y2)


@dataclass(frozen=True)
class AgencySeal:
    """The agency's seal (box 8), over the left third of the signer's image `over`."""

    seal_png: bytes
    page: int
    over: Rect  # the signer's signature image, see `signer_image_rect`
    diameter_mm: float = 36.0

    @property
    def placement(self) -> Placement:
        d = self.diameter_mm * MM
        x1, y1, x2, y2 = self.over
        right = x1 + (x2 - x1) / 3
        cy = (y1 + y2) / 2
        return Placement(self.page, (right - d, cy - d / 2, right, cy + d / 2))

    def resolve(self, reader: PdfFileReader) -> tuple[Placement, TextStampStyle]:
        page_box(reader, self.page)
        _load_png(self.seal_png, "con dấu / seal", "red")
        return self.placement, _style(self)

    def layout(
        self, width: float, height: float, when: dt.datetime
    ) -> tuple[list[_Picture], list[_Line]]:
        img = _load_png(self.seal_png, "con dấu / seal", "red")
        return [_Picture(img, (0.0, 0.0, width, height), "/SealImg")], []


@dataclass(frozen=True)
class TextStamp:
    """Text-only agency signature at the top right of page 1 (attachments, e-copies).

    `lines` come first (number and notation, or copy form and copying agency), then
    `time_label` followed by the signing time in ISO 8601, Vietnam time.
    """

    lines: tuple[str, ...]
    time_label: str = "Thời gian ký: "
    font_size: float = 10.0
    top_mm: float = 8.0
    right_mm: float = 15.0
    font: Font | None = None  # default: regular Times-compatible

    @property
    def _font(self) -> Font:
        return self.font or default_font("regular")

    def _texts(self, when: dt.datetime) -> list[str]:
        return [*self.lines, self.time_label + iso_vietnam_time(when)]

    def resolve(self, reader: PdfFileReader) -> tuple[Placement, TextStampStyle]:
        x1, y1, x2, y2 = page_box(reader, 0)
        sample = self._texts(dt.datetime(2000, 12, 31, 23, 59, 59, tzinfo=VIETNAM_TIME))
        _check_text(self._font, sample)
        width = max(self._font.text_width(t, self.font_size) for t in sample) + 2 * _PAD + 2
        height = 1.2 * self.font_size * len(sample) + 2 * _PAD
        right, top = x2 - self.right_mm * MM, y2 - self.top_mm * MM
        if right - width < x1:
            raise AppearanceError(
                "Trang quá hẹp cho dấu thời gian ký / The page is too narrow for the stamp",
                code="box_too_small",
            )
        return Placement(0, (right - width, top - height, right, top)), _style(self)

    def layout(
        self, width: float, height: float, when: dt.datetime
    ) -> tuple[list[_Picture], list[_Line]]:
        lead = 1.2 * self.font_size
        return [], [
            _Line(
                t,
                self._font,
                self.font_size,
                _PAD,
                height - _PAD - lead * (i + 1) + 0.25 * lead,
                False,
            )
            for i, t in enumerate(self._texts(when))
        ]
