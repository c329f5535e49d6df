"""TrueType fonts for signature appearances, normalised to 1000 units per em.

pyHanko 0.38 writes a CID font's `/W` widths (and the kerning adjustments in `TJ`) in
the font's own units, while PDF reads them as thousandths of an em. Fonts drawn on a
2048-unit grid, like Liberation Serif and DejaVu, therefore come out with every glyph
advanced about twice too far. We rescale the font itself to 1000 units per em with
fontTools before handing it to pyHanko, so everything pyHanko derives from it is right.
The font is also cut down once to the Latin and Vietnamese repertoire (hinting dropped:
it does not survive rescaling), which keeps the per-signature subsetting fast.

Decree 30/2020 asks for Times New Roman; Liberation Serif 2 (Debian `fonts-liberation2`)
is metric-compatible with it and covers Vietnamese. DejaVu Serif is the fallback.
"""

from __future__ import annotations

import functools
import io
import logging
from dataclasses import dataclass
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont, TTLibError
from fontTools.ttLib.scaleUpem import scale_upem
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.writer import BasePdfFileWriter

from signing.errors import AppearanceError

__all__ = ["Font", "default_font", "find_font"]

UNITS_PER_EM = 1000

# Latin, Latin-1, Latin Extended-A/B, combining marks, Latin Extended Additional
# (Vietnamese precomposed letters), general punctuation, ₫ and №.
_REPERTOIRE = [
    *range(0x20, 0x7F),
    *range(0xA0, 0x250),
    *range(0x300, 0x370),
    *range(0x1E00, 0x1F00),
    *range(0x2000, 0x2070),
    0x20AB,
    0x2116,
]

_SEARCH = {
    "regular": (
        "/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    ),
    "bold": (
        "/usr/share/fonts/truetype/liberation2/LiberationSerif-Bold.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
}


def find_font(style: str = "regular") -> Path:
    """The first installed font of the style ("regular" or "bold").

    Raises AppearanceError when none is installed.
    """
    for candidate in _SEARCH[style]:
        if Path(candidate).is_file():
            return Path(candidate)
    raise AppearanceError(
        "Không tìm thấy phông chữ tiếng Việt; hãy cài gói fonts-liberation2 hoặc "
        "fonts-dejavu-core / No Vietnamese font found; install fonts-liberation2 or "
        "fonts-dejavu-core",
        code="font_missing",
    )


@dataclass(frozen=True)
class Font:
    """A font prepared for pyHanko: 1000 units per em, Latin + Vietnamese only."""

    data: bytes
    name: str

    @classmethod
    def load(cls, path: str | Path) -> Font:
        """Read, cut down and rescale a TrueType/OpenType font (cached per path).

        Raises AppearanceError if the file is not a usable font.
        """
        return _load(str(path))

    def engine(self, writer: BasePdfFileWriter, size: float) -> GlyphAccumulator:
        """A pyHanko glyph accumulator writing this font into `writer`."""
        return GlyphAccumulator(writer=writer, font_handle=io.BytesIO(self.data), font_size=size)

    @functools.cached_property
    def _advances(self) -> tuple[dict[int, str], dict[str, int]]:
        tt = TTFont(io.BytesIO(self.data))
        return dict(tt.getBestCmap()), {g: m[0] for g, m in tt["hmtx"].metrics.items()}

    def text_width(self, text: str, size: float) -> float:
        """Width of `text` at `size` pt from the advance widths (no kerning)."""
        cmap, advances = self._advances
        units = sum(advances.get(cmap.get(ord(ch), ".notdef"), 0) for ch in text)
        return units * size / UNITS_PER_EM

    def covers(self, text: str) -> bool:
        """Whether every character of `text` has a glyph."""
        cmap, _ = self._advances
        return all(ord(ch) in cmap for ch in text if not ch.isspace())


@functools.lru_cache(maxsize=8)
def _load(path: str) -> Font:
    try:
        tt = TTFont(path)
        options = subset.Options()
        options.layout_features = ["*"]
        options.name_IDs = ["*"]
        options.notdef_outline = True
        options.hinting = False
        options.drop_tables += ["FFTM", "MATH"]
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=_REPERTOIRE)
        logging.getLogger("fontTools.subset").setLevel(logging.WARNING)
        subsetter.subset(tt)
        if tt["head"].unitsPerEm != UNITS_PER_EM:
            scale_upem(tt, UNITS_PER_EM)
        out = io.BytesIO()
        tt.save(out)
        name = tt["name"].getDebugName(6) or Path(path).stem
    except (OSError, TTLibError, KeyError, AssertionError) as e:
        raise AppearanceError(
            f"Không đọc được phông chữ {path} / Cannot read the font {path}: {e}",
            code="bad_font",
        ) from e
    return Font(out.getvalue(), name)


def default_font(style: str = "regular") -> Font:
    """The Times-compatible Vietnamese font of the style, prepared (cached)."""
    return Font.load(find_font(style))
