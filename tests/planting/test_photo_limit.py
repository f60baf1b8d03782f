"""The photo routes' body limit follows CANOPY_PHOTO_MAX_BYTES (SPEC 10: the photo plus 64 kB)."""

from __future__ import annotations

import httpx
import pytest

from server.planting.controllers import photo_body_limit
from tests.api import Api
from tests.planting.helpers import Ngo, create_ngo, image_bytes

BOUNDARY = "canopy-test-boundary"
HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="tree.jpg"\r\n'
    "Content-Type: image/jpeg\r\n\r\n"
).encode()
TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


async def post_body_of(api: Api, ngo: Ngo, size: int) -> httpx.Response:
    """A one-file form of exactly `size` bytes."""
    body = HEAD + b"\xff\xd8" + b"\0" * (size - len(HEAD) - len(TAIL) - 2) + TAIL
    assert len(body) == size
    headers = {**ngo.headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    return await api.client.post("/v1/ngo/photos", content=body, headers=headers)


@pytest.mark.settings(photo_max_bytes=100_000)
async def test_a_body_over_a_small_configured_limit_is_413_and_a_photo_under_it_is_stored(api: Api) -> None:
    ngo = await create_ngo(api)
    limit = photo_body_limit(api.settings)
    over = await post_body_of(api, ngo, limit + 1)
    assert over.status_code == 413 and over.headers["content-type"].startswith("application/problem+json")
    assert over.json()["type"].endswith(":payload-too-large") and "photo may be" not in over.json()["detail"]
    # At the limit the body is read, and the file, over CANOPY_PHOTO_MAX_BYTES, is refused by its own check.
    at_limit = await post_body_of(api, ngo, limit)
    assert at_limit.status_code == 413 and "at most 100,000 bytes" in at_limit.json()["detail"], at_limit.text
    photo = image_bytes(1)
    assert len(photo) < 100_000
    assert (await ngo.upload(photo)).status_code == 201


@pytest.mark.settings(photo_max_bytes=12 * 1024 * 1024)
async def test_a_larger_configured_limit_lets_a_body_past_the_default_through(api: Api) -> None:
    """11 MiB is over the default's 10 MB + 64 kB: refused before, now read (and found no image)."""
    ngo = await create_ngo(api)
    answer = await post_body_of(api, ngo, 11 * 1024 * 1024)
    assert answer.status_code == 422 and answer.json()["type"].endswith(":photo-format"), answer.text
