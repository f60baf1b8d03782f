"""Planting photos: decode safely, strip metadata, thumbnail, perceptual hash (SPEC 8.3).

Everything here is synchronous Pillow work: callers run it off the event loop
(`anyio.to_thread.run_sync`). `open_photo` reads only the header: the declared pixel count is
checked against our own cap before anything is decoded, so a small file declaring a huge image (a
decompression bomb) is refused without allocating it, and it says how much memory decoding will
hold (`PhotoDecode.memory_bytes`) so the caller can reserve that from the worker's budget first.

Decoding keeps few full-size pixels: a JPEG is decoded already scaled down by libjpeg (`draft`),
a PNG is reduced right after decoding, and everything after that (rotation, RGB, hash, thumbnail)
works on the reduced image. The reported width and height are the photo's own.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass

import imagehash
from PIL import ExifTags, Image, UnidentifiedImageError
from PIL.JpegImagePlugin import JpegImageFile

from server.errors import Unprocessable

ALLOWED_FORMATS = ("JPEG", "PNG")
MPO = "MPO"  # the multi-picture JPEG phones write; Pillow opens it as JPEG's sibling, frame 0 first
BANDS = 7  # 64 bits in 7 disjoint slices: hashes within distance 6 share at least one slice exactly
_BAND_BITS = (9, 9, 9, 9, 9, 9, 10)
# The reduced image keeps at least this many pixels on its long side (and the thumbnail's twice
# over), and at least this many on its short side: the hash resizes it to 32 x 32.
WORKING_LONG_SIDE = 1024
WORKING_SHORT_SIDE = 64
_REDUCIBLE_MODES = ("RGB", "L")  # others are made RGB (as every photo ends up) before they are reduced
# EXIF orientation -> the transposition that makes the photo upright (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES = {
    Image.Transpose.TRANSPOSE,
    Image.Transpose.ROTATE_270,
    Image.Transpose.TRANSVERSE,
    Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class ProcessedPhoto:
    sha256: str
    width: int
    height: int
    phash: str  # 16 hex characters
    thumbnail: bytes  # JPEG, no metadata


def _not_an_image(detail: str) -> Unprocessable:
    return Unprocessable(detail, problem="photo-format")


def _bytes_per_pixel(mode: str) -> int:
    """What Pillow allocates per pixel: one byte for 1/L/P, two for I;16, four for the rest."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def _reduction(width: int, height: int, thumbnail_px: int) -> int:
    """The integer factor that shrinks the photo as far as hashing and the thumbnail allow."""
    long_side = max(WORKING_LONG_SIDE, 2 * thumbnail_px)
    return max(1, min(max(width, height) // long_side, min(width, height) // WORKING_SHORT_SIDE))


def _coefficient_bytes(jpeg: JpegImageFile) -> int:
    """A progressive JPEG's DCT coefficients (2 bytes each), per component at its sampling."""
    width, height = jpeg.size
    sampling = [(h, v) for _, h, v, _ in jpeg.layer]
    h_max, v_max = max(h for h, _ in sampling), max(v for _, v in sampling)
    return sum(math.ceil(width * h / h_max) * math.ceil(height * v / v_max) * 2 for h, v in sampling)


class PhotoDecode:
    """An upload whose header passed the checks, ready to decode (in a worker thread)."""

    def __init__(self, raw: bytes, image: Image.Image, thumbnail_px: int) -> None:
        self.raw = raw
        self.width, self.height = image.size  # the photo's own size, before any scaling
        self.thumbnail_px = thumbnail_px
        factor = _reduction(self.width, self.height, thumbnail_px)
        coefficients = 0
        if isinstance(image, JpegImageFile):  # MPO too
            # libjpeg decodes straight to 1/2, 1/4 or 1/8 of the size; a progressive JPEG still
            # holds all its DCT coefficients at full size meanwhile.
            if image.info.get("progressive"):
                coefficients = _coefficient_bytes(image)
            image.draft(None, (self.width // factor, self.height // factor))
            factor = _reduction(*image.size, thumbnail_px)
        self.image: Image.Image | None = image
        self.factor = factor
        decoded = image.width * image.height
        working = math.ceil(image.width / factor) * math.ceil(image.height / factor)
        converted_first = factor > 1 and image.mode not in _REDUCIBLE_MODES
        self.memory_bytes = (
            coefficients
            + decoded * _bytes_per_pixel(image.mode)
            + (decoded * 4 if converted_first else 0)
            + 2 * working * 4  # at most two working-size RGB images at once (reduce, rotate, convert)
        )

    def run(self) -> ProcessedPhoto:
        """Decode, reduce, make upright, hash and thumbnail; only the reduced image outlives the decode."""
        image, self.image = self.image, None
        assert image is not None, "a PhotoDecode runs once"
        try:
            image.load()
            transposition = _UPRIGHT.get(image.getexif().get(ExifTags.Base.Orientation, 1))
            working = image
            if self.factor > 1:
                if working.mode not in _REDUCIBLE_MODES:
                    working = working.convert("RGB")
                working = working.reduce(self.factor)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, MemoryError) as exc:
            raise _not_an_image("The image data is damaged or truncated.") from exc
        del image  # the full-size pixels go now, not when the reduced image is done
        if transposition is not None:
            working = working.transpose(transposition)  # keep it upright once the EXIF is gone
        rgb = working.convert("RGB")  # a fresh image: no EXIF, ICC, XMP or text chunks carried over
        del working
        phash = str(imagehash.phash(rgb))
        rgb.thumbnail((self.thumbnail_px, self.thumbnail_px))
        out = io.BytesIO()
        rgb.save(out, format="JPEG", quality=85, optimize=True)
        width, height = (self.height, self.width) if transposition in _SWAPS_AXES else (self.width, self.height)
        return ProcessedPhoto(
            sha256=hashlib.sha256(self.raw).hexdigest(),
            width=width,
            height=height,
            phash=phash,
            thumbnail=out.getvalue(),
        )


def open_photo(raw: bytes, *, max_pixels: int, thumbnail_px: int) -> PhotoDecode:
    """Read the header only: the format and the declared size are checked, nothing is decoded."""
    try:
        image = Image.open(io.BytesIO(raw), formats=list(ALLOWED_FORMATS))
    except Image.DecompressionBombError as exc:  # Pillow's own cap (far above ours) refused the header
        raise Unprocessable("The photo declares too many pixels.", problem="photo-too-large") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _not_an_image("The file is not a JPEG or PNG image.") from exc
    try:
        if image.format not in (*ALLOWED_FORMATS, MPO):
            raise _not_an_image("Only JPEG and PNG photos are accepted.")
        width, height = image.size
        if width < 1 or height < 1 or width * height > max_pixels:
            raise Unprocessable(
                f"The photo has {width}x{height} pixels; at most {max_pixels:,} are accepted.",
                problem="photo-too-large",
            )
        return PhotoDecode(raw, image, thumbnail_px)
    except BaseException:
        image.close()
        raise


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
