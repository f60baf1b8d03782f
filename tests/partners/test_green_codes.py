"""Green codes and their QR image (SPEC 7.1)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from PIL import Image

from tests.api import Api
from tests.partners.helpers import green_code, make_partner, report_body


async def test_a_code_is_18_digits_valid_five_minutes(api: Api) -> None:
    user = await api.register()
    before = await api.now()
    response = await user.post("/v1/me/green-code")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"code", "expires_at"}
    assert len(body["code"]) == 18 and body["code"].isdigit()
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert timedelta(seconds=299) <= expires_at - before <= timedelta(seconds=302)
    codes = {await green_code(user) for _ in range(4)}
    assert body["code"] not in codes and len(codes) == 4


async def test_a_sixth_live_code_drops_the_oldest(api: Api) -> None:
    partner = await make_partner(api)
    user = await api.register()
    codes = [await green_code(user) for _ in range(6)]
    dropped = await partner.report(await report_body(user, code=codes[0]))
    assert dropped.status_code == 422 and dropped.json()["type"].endswith(":green-code-unknown")
    for code in codes[1:]:
        assert (await partner.report(await report_body(user, [("reusable_cup", 1)], code=code))).status_code == 201
    # redeemed codes are not live: five new ones all stay valid
    fresh = [await green_code(user) for _ in range(5)]
    for code in fresh:
        assert (await partner.report(await report_body(user, [("bus_ride", 1)], code=code))).status_code == 201


async def test_qr_png_of_the_newest_live_code(api: Api) -> None:
    partner = await make_partner(api)
    user = await api.register()
    response = await user.get("/v1/me/green-code.png")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "no-store"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(response.content))
    image.load()
    assert image.format == "PNG" and image.width == image.height and image.width >= 100

    # the image issued a code: the newest live one is shown again, not a new one each time
    again = await user.get("/v1/me/green-code.png")
    assert again.content == response.content
    newer = await green_code(user)
    third = await user.get("/v1/me/green-code.png")
    assert third.content != response.content
    assert (await partner.report(await report_body(user, code=newer))).status_code == 201
    # once the newest is redeemed, the image shows the one issued by the first request
    assert (await user.get("/v1/me/green-code.png")).content == response.content
    await api.advance(301)
    assert (await user.get("/v1/me/green-code.png")).content != response.content
    assert (await api.client.get("/v1/me/green-code.png")).status_code == 401
