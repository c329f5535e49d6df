"""Look at signed PDFs the way a reader does: poppler renders and extracts text."""

from __future__ import annotations

import html
import io
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

Rect = tuple[float, float, float, float]  # PDF points, origin bottom-left


@dataclass(frozen=True)
class Word:
    text: str
    rect: Rect  # PDF points, origin bottom-left


def words(pdf: Path, page_height: float, page: int = 1) -> list[Word]:
    """What pdftotext finds, with boxes (a line drawn with /ActualText is one word)."""
    out = subprocess.run(
        ["pdftotext", "-bbox-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = []
    for m in re.finditer(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', out
    ):
        x0, y0, x1, y1 = (float(v) for v in m.groups()[:4])
        found.append(Word(html.unescape(m.group(5)), (x0, page_height - y1, x1, page_height - y0)))
    return found


def render(pdf: Path, rect: Rect, page_height: float, dpi: int = 150, page: int = 1) -> Image.Image:
    """The page region `rect` as poppler draws it, in RGB."""
    scale = dpi / 72
    x0, y0, x1, y1 = rect
    args = [
        "pdftoppm", "-png", "-r", str(dpi), "-f", str(page), "-l", str(page),
        "-x", str(int(x0 * scale)), "-y", str(int((page_height - y1) * scale)),
        "-W", str(int((x1 - x0) * scale)), "-H", str(int((y1 - y0) * scale)), str(pdf),
    ]  # fmt: skip
    png = subprocess.run(args, capture_output=True, check=True).stdout
    return Image.open(io.BytesIO(png)).convert("RGB")


def ink_box(img: Image.Image, keep: object) -> tuple[int, int, int, int] | None:
    """Bounding box (pixels) of the pixels for which `keep(r, g, b)` holds."""
    mask = Image.new("1", img.size)
    mask.putdata([1 if keep(*p) else 0 for p in pixels(img)])  # type: ignore[operator]
    return mask.getbbox()


def pixels(img: Image.Image) -> list[tuple[int, int, int]]:
    """The RGB pixels, row by row."""
    raw = img.convert("RGB").tobytes()
    return [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]


def dark(r: int, g: int, b: int) -> bool:
    return r + g + b < 3 * 110


def blue(r: int, g: int, b: int) -> bool:
    return b > 120 and b > r + 60 and b > g + 40


def red(r: int, g: int, b: int) -> bool:
    return r > 140 and r > g + 80 and r > b + 80
