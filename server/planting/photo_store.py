"""Uploaded photos in the database: storing them, their thumbnails, and the near-duplicate check.

The image processing itself (hashes, thumbnails) is server/planting/photos.py; a photo is only
readable through the NGO that uploaded it, and a (nearly) identical photo can serve one tree only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.errors import Conflict, NotFound
from server.planting.models import Photo, PhotoHashBand
from server.planting.photos import ProcessedPhoto, bands, hamming
from server.planting.schemas import PhotoPublic
from server.settings import Settings


async def near_duplicate_used(
    session: AsyncSession, phash: str, max_distance: int, *, except_tree: str | None = None
) -> str | None:
    """The id of a photo used for another tree whose hash is within `max_distance`, if any."""
    band_match = or_(
        *((col(PhotoHashBand.band) == band) & (col(PhotoHashBand.value) == value) for band, value in bands(phash))
    )
    rows = await session.execute(
        select(col(Photo.id), col(Photo.phash), col(Photo.tree_id))
        .join(PhotoHashBand, col(PhotoHashBand.photo_id) == col(Photo.id))
        .where(band_match, col(Photo.tree_id).is_not(None))
        .distinct()
    )
    for photo_id, photo_phash, tree_id in rows:
        if tree_id != except_tree and hamming(photo_phash, phash) <= max_distance:
            return photo_id
    return None


async def save_photo(
    session: AsyncSession, ngo_id: str, photo: ProcessedPhoto, settings: Settings, now: datetime
) -> PhotoPublic:
    if await near_duplicate_used(session, photo.phash, settings.photo_hash_max_distance):
        raise Conflict("This photo is (nearly) the same as one already used for another tree.", problem="photo-reused")
    row = Photo(
        ngo_id=ngo_id,
        sha256=photo.sha256,
        width=photo.width,
        height=photo.height,
        phash=photo.phash,
        thumbnail=photo.thumbnail,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return PhotoPublic(photo_id=row.id, sha256=row.sha256, width=row.width, height=row.height)


async def thumbnail(session: AsyncSession, photo_id: str) -> bytes:
    data = (await session.execute(select(col(Photo.thumbnail)).where(col(Photo.id) == photo_id))).scalar()
    if data is None:
        raise NotFound("No such photo.", problem="photo-not-found")
    return data
