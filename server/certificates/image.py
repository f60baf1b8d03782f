"""The printable certificate: a PNG drawn with Pillow, a shipped TTF font and a QR code."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Any

import qrcode
from PIL import Image, ImageDraw, ImageFont

FONTS = Path(__file__).resolve().parents[2] / "assets" / "fonts"
WIDTH, HEIGHT = 1600, 1130  # A4 landscape at ~136 dpi
INK = (30, 60, 40)
LEAF = (46, 125, 50)
PAPER = (252, 250, 242)


@lru_cache(maxsize=16)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS / name), size)


def _centered(draw: ImageDraw.ImageDraw, y: int, text: str, font: ImageFont.FreeTypeFont, fill: Any) -> None:
    width = draw.textlength(text, font=font)
    draw.text(((WIDTH - width) / 2, y), text, font=font, fill=fill)


def render(certificate: dict[str, Any], verify_url: str) -> bytes:
    """Render one certificate; pure and CPU-bound (call it off the event loop)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    draw = ImageDraw.Draw(image)
    draw.rectangle((30, 30, WIDTH - 30, HEIGHT - 30), outline=LEAF, width=8)
    draw.rectangle((50, 50, WIDTH - 50, HEIGHT - 50), outline=LEAF, width=2)

    _centered(draw, 110, "Certificate of Tree Planting", _font("DejaVuSerif-Bold.ttf", 64), INK)
    _centered(draw, 200, certificate["number"], _font("DejaVuSans.ttf", 34), LEAF)
    _centered(draw, 290, "This certifies that a real tree was planted for", _font("DejaVuSerif.ttf", 34), INK)
    _centered(draw, 350, certificate["owner_display_name"], _font("DejaVuSerif-Bold.ttf", 56), INK)

    body = _font("DejaVuSerif.ttf", 30)
    lines = [
        f"{certificate['species']} ({certificate['scientific_name']})",
        f"{certificate['project']}, planted by {certificate['ngo']}",
        f"Planted {certificate['planted_at'][:10]} at {certificate['lat']:.3f}, {certificate['lon']:.3f}",
    ]
    for index, line in enumerate(lines):
        _centered(draw, 470 + index * 50, line, body, INK)

    qr = qrcode.QRCode(box_size=8, border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(verify_url)
    qr.make(fit=True)
    code = qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
    code = code.resize((260, 260), Image.Resampling.NEAREST)
    image.paste(code, (WIDTH - 360, HEIGHT - 380))
    small = _font("DejaVuSans.ttf", 22)
    draw.text((110, HEIGHT - 250), "Verify this certificate:", font=small, fill=INK)
    draw.text((110, HEIGHT - 215), verify_url, font=small, fill=LEAF)
    draw.text((110, HEIGHT - 170), "Signed with Ed25519 (see /v1/certificates/public-key).", font=small, fill=INK)

    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
