"""Signature and seal images drawn with Pillow, as an official would upload them."""

from __future__ import annotations

import io
import math

from PIL import Image, ImageDraw

BLUE = (20, 40, 200, 255)
RED = (220, 20, 30, 255)


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def signature_png(width: int = 600, height: int = 240) -> bytes:
    """A blue handwritten-looking stroke on a transparent background."""
    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    points = [
        (30 + x, height / 2 + math.sin(x / 35) * height / 3 * (1 - x / width))
        for x in range(0, width - 60, 4)
    ]
    draw.line(points, fill=BLUE, width=9, joint="curve")
    draw.line([(width * 0.2, height * 0.8), (width * 0.85, height * 0.25)], fill=BLUE, width=7)
    return _png(img)


def seal_png(size: int = 500) -> bytes:
    """A red round seal: two rings and a star, transparent outside and between."""
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.ellipse((4, 4, size - 4, size - 4), outline=RED, width=14)
    draw.ellipse((size * 0.22, size * 0.22, size * 0.78, size * 0.78), outline=RED, width=8)
    c, r = size / 2, size * 0.2
    star = [
        (c + r * (1 if i % 2 == 0 else 0.4) * math.sin(i * math.pi / 5),
         c - r * (1 if i % 2 == 0 else 0.4) * math.cos(i * math.pi / 5))
        for i in range(10)
    ]  # fmt: skip
    draw.polygon(star, fill=RED)
    return _png(img)


def opaque_png() -> bytes:
    """A signature scanned on white paper: no transparency (must be refused)."""
    img = Image.new("RGB", (300, 120), (255, 255, 255))
    ImageDraw.Draw(img).line([(10, 60), (290, 60)], fill=BLUE[:3], width=6)
    return _png(img)
