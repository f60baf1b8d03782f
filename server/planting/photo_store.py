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
from server.planting.schemas import OrderPhoto, PhotoPublic
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
    session: AsyncSession,
    ngo_id: str,
    photo: ProcessedPhoto,
    settings: Settings,
    now: datetime,
    *,
    order_id: str | None = None,
    file_name: str | None = None,
) -> PhotoPublic:
    """Keep a judged photo; the portal also records the order it was uploaded for and its file name."""
    if await near_duplicate_used(session, photo.phash, settings.photo_hash_max_distance):
        raise Conflict("This photo is (nearly) the same as one already used for another tree.", problem="photo-reused")
    row = Photo(
        ngo_id=ngo_id,
        sha256=photo.sha256,
        width=photo.width,
        height=photo.height,
        phash=photo.phash,
        thumbnail=photo.thumbnail,
        order_id=order_id,
        file_name=file_name,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return PhotoPublic(photo_id=row.id, sha256=row.sha256, width=row.width, height=row.height)


async def thumbnail(session: AsyncSession, photo_id: str, *, ngo_id: str | None = None) -> bytes:
    """A photo's thumbnail; with `ngo_id`, only that NGO's (the portal's view: another's is not found)."""
    query = select(col(Photo.thumbnail)).where(col(Photo.id) == photo_id)
    if ngo_id is not None:
        query = query.where(col(Photo.ngo_id) == ngo_id)
    data = (await session.execute(query)).scalar()
    if data is None:
        raise NotFound("No such photo.", problem="photo-not-found")
    return data


async def order_photos(session: AsyncSession, ngo_id: str, order_id: str) -> list[OrderPhoto]:
    """The photos uploaded in the portal for one of the NGO's orders, newest first."""
    rows = await session.execute(
        select(col(Photo.id), col(Photo.file_name), col(Photo.width), col(Photo.height), col(Photo.tree_id))
        .where(col(Photo.ngo_id) == ngo_id, col(Photo.order_id) == order_id)
        .order_by(col(Photo.id).desc())
    )
    return [
        OrderPhoto(id=row.id, file_name=row.file_name, width=row.width, height=row.height, tree_id=row.tree_id)
        for row in rows
    ]


async def resolve_photo_refs(session: AsyncSession, ngo_id: str, order_id: str, refs: set[str]) -> dict[str, str]:
    """Photo ids for what a planting row names as its photo: the id of one of the NGO's photos, or
    the file name (any case) of a photo uploaded for this order, the newest if several share it.
    A reference that names neither is left out (the planting then refuses it as an unknown photo)."""
    if not refs:
        return {}
    ids = await session.execute(select(col(Photo.id)).where(col(Photo.ngo_id) == ngo_id, col(Photo.id).in_(refs)))
    found = {photo_id: photo_id for photo_id in ids.scalars()}
    by_name: dict[str, list[str]] = {}
    for ref in refs - set(found):
        by_name.setdefault(ref.casefold(), []).append(ref)
    if by_name:
        # Matched here, not in SQL: the databases fold case differently beyond ASCII. An order's
        # photos are a few hundred names.
        named = await session.execute(
            select(col(Photo.id), col(Photo.file_name))
            .where(col(Photo.ngo_id) == ngo_id, col(Photo.order_id) == order_id, col(Photo.file_name).is_not(None))
            .order_by(col(Photo.id))
        )
        for photo_id, name in named:  # oldest first: the newest of a name is written last
            for ref in by_name.get((name or "").casefold(), ()):
                found[ref] = photo_id
    return found
