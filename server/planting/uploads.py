"""Judging one uploaded photo file, as `POST /ngo/photos` and the NGO portal's upload form both do.

The size is checked before anything is decoded (413), the header before the pixels (422), and the
decode waits for its share of the worker's photo memory budget (server/memory.py), so a form of
many photos decodes them one at a time within the same budget as the API.
"""

from __future__ import annotations

import anyio
from litestar.datastructures import UploadFile

from server.errors import DomainError, Unprocessable
from server.memory import MemoryBudget
from server.planting import photos
from server.planting.photos import ProcessedPhoto
from server.settings import Settings

FILE_NAME_MAX = 255


async def read_photo(upload: UploadFile, settings: Settings) -> bytes:
    """The file's bytes, read no further than one byte past the limit (413 beyond it)."""
    raw = await upload.read(settings.photo_max_bytes + 1)
    if len(raw) > settings.photo_max_bytes:
        raise DomainError(
            f"A photo may be at most {settings.photo_max_bytes:,} bytes.", problem="payload-too-large", status=413
        )
    return raw


async def process_photo(raw: bytes, settings: Settings, photo_memory: MemoryBudget) -> ProcessedPhoto:
    """Decode off the event loop within the memory budget: metadata stripped, hashed, thumbnailed."""
    max_pixels, thumbnail_px = settings.photo_max_pixels, settings.photo_thumbnail_px
    decode = await anyio.to_thread.run_sync(
        lambda: photos.open_photo(raw, max_pixels=max_pixels, thumbnail_px=thumbnail_px)
    )
    if not photo_memory.fits(decode.memory_bytes):
        raise Unprocessable(
            "Decoding this photo would take more memory than the server allows one photo.",
            problem="photo-too-large",
        )
    async with photo_memory.reserve(decode.memory_bytes):
        return await anyio.to_thread.run_sync(decode.run)


def upload_file_name(upload: UploadFile) -> str | None:
    """The file's own name, without any folder a browser sent along; None when unusable."""
    name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return name if 0 < len(name) <= FILE_NAME_MAX else None
