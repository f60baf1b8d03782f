"""Planting photos: decode safely, strip metadata, thumbnail, perceptual hash (SPEC 8.3).

Everything here is synchronous Pillow work: callers run it off the event loop
(`anyio.to_thread.run_sync`). The header is read first and the declared pixel count checked
against our own cap before anything is decoded, so a small file declaring a huge image (a
decompression bomb) is refused without allocating it; the size is checked again after decoding.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import imagehash
from PIL import Image, ImageOps, UnidentifiedImageError

from server.errors import Unprocessable

ALLOWED_FORMATS = ("JPEG", "PNG")
BANDS = 7  # 64 bits in 7 disjoint slices: hashes within distance 6 share at least one slice exactly
_BAND_BITS = (9, 9, 9, 9, 9, 9, 10)


@dataclass(frozen=True)
class ProcessedPhoto:
    sha256: str
    width: int
    height: int
    phash: str  # 16 hex characters
    thumbnail: bytes  # JPEG, no metadata


def _not_an_image(detail: str) -> Unprocessable:
    return Unprocessable(detail, problem="photo-format")


def process(raw: bytes, *, max_pixels: int, thumbnail_px: int) -> ProcessedPhoto:
    try:
        image = Image.open(io.BytesIO(raw), formats=list(ALLOWED_FORMATS))
    except Image.DecompressionBombError as exc:  # Pillow's own cap (far above ours) refused the header
        raise Unprocessable("The photo declares too many pixels.", problem="photo-too-large") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _not_an_image("The file is not a JPEG or PNG image.") from exc
    with image:
        if image.format not in ALLOWED_FORMATS:
            raise _not_an_image("Only JPEG and PNG photos are accepted.")
        width, height = image.size
        if width < 1 or height < 1 or width * height > max_pixels:
            raise Unprocessable(
                f"The photo has {width}x{height} pixels; at most {max_pixels:,} are accepted.",
                problem="photo-too-large",
            )
        try:
            image.load()
            image = ImageOps.exif_transpose(image)  # keep it upright once the EXIF is gone
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, MemoryError) as exc:
            raise _not_an_image("The image data is damaged or truncated.") from exc
        width, height = image.size
        if width * height > max_pixels:
            raise Unprocessable("The decoded photo is too large.", problem="photo-too-large")
        rgb = image.convert("RGB")  # a fresh image: no EXIF, ICC, XMP or text chunks carried over
        phash = str(imagehash.phash(rgb))
        rgb.thumbnail((thumbnail_px, thumbnail_px))
        out = io.BytesIO()
        rgb.save(out, format="JPEG", quality=85, optimize=True)
    return ProcessedPhoto(
        sha256=hashlib.sha256(raw).hexdigest(),
        width=width,
        height=height,
        phash=phash,
        thumbnail=out.getvalue(),
    )


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def bands(phash: str) -> list[tuple[int, int]]:
    """The 7 (band, value) slices of a 64-bit hash."""
    value = int(phash, 16)
    result = []
    shift = 0
    for band, bits in enumerate(_BAND_BITS):
        result.append((band, (value >> shift) & ((1 << bits) - 1)))
        shift += bits
    return result
