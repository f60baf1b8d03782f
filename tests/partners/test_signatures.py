"""Signed partner requests (SPEC 7.2): the exact MAC, the clock window, keys and rotation."""

from __future__ import annotations

import hashlib
import hmac

from server.partners.signatures import sign
from tests.api import Api
from tests.partners.helpers import encode, make_partner, report_body, signature


def test_signature_known_answer() -> None:
    secret, timestamp, body = "psk_known-answer-secret", "1795000000", b'{"report_id":"r-1"}'
    expected = "a6217576af9f4776fab3cdab2f49de7b2cd144421a56195348ecc76395f2cd8e"
    independent = hmac.new(secret.encode(), b"1795000000.POST./v1/partner/reports." + body, hashlib.sha256).hexdigest()
    assert independent == expected
    assert sign(secret, timestamp, "POST", "/v1/partner/reports", body) == expected
    assert (
        sign(secret, timestamp, "GET", "/v1/partner/reports?limit=2", b"")
        == hmac.new(secret.encode(), b"1795000000.GET./v1/partner/reports?limit=2.", hashlib.sha256).hexdigest()
    )


def assert_401(response, problem: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == f"urn:canopy:problem:{problem}"


async def test_a_request_signed_by_hand_is_accepted(api: Api) -> None:
    partner = await make_partner(api)
    user = await api.register()
    body = encode(await report_body(user))
    timestamp = str(int((await api.now()).timestamp()))
    mac = hmac.new(
        partner.secret.encode(), f"{timestamp}.POST./v1/partner/reports.".encode() + body, hashlib.sha256
    ).hexdigest()
    response = await api.client.post(
        "/v1/partner/reports",
        content=body,
        headers={
            "Canopy-Key-Id": partner.key_id,
            "Canopy-Timestamp": timestamp,
            "Canopy-Signature": f"v1={mac}",
            "content-type": "application/json",
        },
    )
    assert response.status_code == 201, response.text


async def test_stale_future_replayed_and_tampered_requests_are_refused(api: Api) -> None:
    partner = await make_partner(api)
    user = await api.register()
    listing = "/v1/partner/reports"
    assert (await partner.get(listing, timestamp=await partner.timestamp(-290))).status_code == 200
    assert (await partner.get(listing, timestamp=await partner.timestamp(290))).status_code == 200
    assert_401(await partner.get(listing, timestamp=await partner.timestamp(-400)), "signature-timestamp")
    assert_401(await partner.get(listing, timestamp=await partner.timestamp(400)), "signature-timestamp")
    assert_401(await partner.get(listing, timestamp="12.5"), "signature-timestamp")

    # The window follows the test clock: a wall-clock timestamp is stale once the clock moved on.
    body = await report_body(user)
    raw = encode(body)
    timestamp = await partner.timestamp()
    mac = signature(partner.secret, timestamp, "POST", "/v1/partner/reports", raw)
    headers = {
        "Canopy-Key-Id": partner.key_id,
        "Canopy-Timestamp": timestamp,
        "Canopy-Signature": f"v1={mac}",
        "content-type": "application/json",
    }
    tampered = raw.replace(b'"quantity":1', b'"quantity":5')
    assert_401(await api.client.post("/v1/partner/reports", content=tampered, headers=headers), "invalid-signature")
    other_path = await api.client.post("/v1/partner/reports/batch", content=raw, headers=headers)
    assert_401(other_path, "invalid-signature")
    query_added = await api.client.post("/v1/partner/reports?x=1", content=raw, headers=headers)
    assert_401(query_added, "invalid-signature")
    first = await api.client.post("/v1/partner/reports", content=raw, headers=headers)
    assert first.status_code == 201, first.text
    await api.advance(301)
    assert_401(await api.client.post("/v1/partner/reports", content=raw, headers=headers), "signature-timestamp")
    # a fresh signature of the same report replays it
    assert (await partner.report(body)).status_code == 200

    # a GET signs its query as sent
    signed_without_query = signature(partner.secret, await partner.timestamp(), "GET", listing, b"")
    response = await api.client.get(
        listing + "?limit=1",
        headers={
            "Canopy-Key-Id": partner.key_id,
            "Canopy-Timestamp": await partner.timestamp(),
            "Canopy-Signature": f"v1={signed_without_query}",
        },
    )
    assert_401(response, "invalid-signature")
    assert (await partner.get(listing + "?limit=1")).status_code == 200


async def test_missing_unknown_and_malformed_credentials(api: Api) -> None:
    partner = await make_partner(api)
    assert_401(await api.client.get("/v1/partner/reports"), "signature-required")
    assert_401(await partner.get("/v1/partner/reports", key_id="pk_000000000000000000000000"), "unknown-key")
    assert_401(await partner.get("/v1/partner/reports", secret="psk_wrong"), "invalid-signature")
    assert_401(await partner.get("/v1/partner/reports", signatures=["v2=abc"]), "invalid-signature")
    assert_401(await partner.get("/v1/partner/reports", signatures=["v1=" + "0" * 64]), "invalid-signature")
    assert_401(await partner.get("/v1/partner/reports", key_id="pk_\x01"), "invalid-signature")
    user = await api.register()
    # a user's bearer token is no partner credential
    assert (await user.get("/v1/partner/reports")).status_code == 401
    assert (await user.post("/v1/partner/reports", json=await report_body(user))).status_code == 401
    assert (await user.forest())["balls"] == []


async def test_rotation_old_key_valid_until_revoked(api: Api) -> None:
    partner = await make_partner(api)
    old_key, old_secret = partner.key_id, partner.secret
    new = await partner.new_key()
    assert new["key_id"] != old_key and new["secret"] != old_secret
    keys = (await api.client.get(f"/v1/admin/partners/{partner.id}/keys", headers=api.operator)).json()["items"]
    assert {k["key_id"] for k in keys} == {old_key, new["key_id"]}
    assert all("secret" not in k for k in keys)

    # during rotation the partner sends both signatures; each key finds its own
    timestamp = await partner.timestamp()
    both = [
        f"v1={signature(old_secret, timestamp, 'GET', '/v1/partner/reports', b'')}",
        f"v1={signature(new['secret'], timestamp, 'GET', '/v1/partner/reports', b'')}",
    ]
    for key_id in (old_key, new["key_id"]):
        response = await partner.get("/v1/partner/reports", key_id=key_id, timestamp=timestamp, signatures=both)
        assert response.status_code == 200, response.text
    response = await partner.get("/v1/partner/reports", key_id=new["key_id"], secret=new["secret"])
    assert response.status_code == 200

    revoked = await api.client.delete(f"/v1/admin/partners/{partner.id}/keys/{old_key}", headers=api.operator)
    assert revoked.status_code == 204
    again = await api.client.delete(f"/v1/admin/partners/{partner.id}/keys/{old_key}", headers=api.operator)
    assert again.status_code == 204
    assert_401(await partner.get("/v1/partner/reports"), "unknown-key")
    assert_401(
        await partner.get("/v1/partner/reports", key_id=old_key, timestamp=timestamp, signatures=both), "unknown-key"
    )
    response = await partner.get("/v1/partner/reports", key_id=new["key_id"], secret=new["secret"])
    assert response.status_code == 200
    other = await make_partner(api)
    missing = await api.client.delete(f"/v1/admin/partners/{other.id}/keys/{new['key_id']}", headers=api.operator)
    assert missing.status_code == 404


async def test_duplicate_json_keys_in_a_signed_body_are_refused(api: Api) -> None:
    partner = await make_partner(api)
    user = await api.register()
    body = encode(await report_body(user))
    duplicated = body[:-1] + b',"report_id":"other"}'
    response = await partner.post("/v1/partner/reports", raw=duplicated)
    assert response.status_code == 400 and response.json()["type"].endswith(":malformed-json")
    assert (await user.forest())["balls"] == []


async def test_idempotency_key_replays_only_to_the_signer(api: Api) -> None:
    partner = await make_partner(api)
    user = await api.register()
    body = await report_body(user)
    raw = encode(body)
    first = await partner.post("/v1/partner/reports", raw=raw, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    # the same signed request again (a network retry) replays
    timestamp = await partner.timestamp()
    mac = signature(partner.secret, timestamp, "POST", "/v1/partner/reports", raw)
    signed = {
        "Canopy-Key-Id": partner.key_id,
        "Canopy-Timestamp": timestamp,
        "Canopy-Signature": f"v1={mac}",
        "Idempotency-Key": "k-2",
        "content-type": "application/json",
    }
    assert (await api.client.post("/v1/partner/reports", content=raw, headers=signed)).status_code == 200
    retry = await api.client.post("/v1/partner/reports", content=raw, headers=signed)
    assert retry.status_code == 200 and retry.headers.get("idempotent-replayed") == "true"
    # someone who knows the key id and the body but not the secret gets nothing back
    forged = {**signed, "Canopy-Signature": "v1=" + "0" * 64}
    response = await api.client.post("/v1/partner/reports", content=raw, headers=forged)
    assert_401(response, "invalid-signature")
