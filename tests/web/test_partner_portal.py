"""The partner portal over HTTP (SPEC 12.4): the month's dashboard, reports with filters, the CSV
export, refused signed requests, keys, the webhook URL and deliveries, each figure checked
against reports sent through the real signed partner API."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from typing import Any

import pytest

import server.web.partner as partner_pages
from server.members.models import MemberRole, OrgKind
from tests.api import Api, User
from tests.partners.helpers import Partner, encode, make_partner, report_body
from tests.planting.helpers import create_ngo
from tests.web.portal import Portal, member_portal
from tests.webhooks.test_delivery import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def text_of(html: str) -> str:
    main = html.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main)).replace("&#39;", "'").replace("&#34;", '"')


async def owner_of(api: Api, partner: Partner, email: str = "owner@cafe.example") -> Portal:
    return await member_portal(api, org_kind=OrgKind.PARTNER, org_id=partner.id, role=MemberRole.OWNER, email=email)


async def sent(partner: Partner, user: User, items: list[tuple[str, int]], rid: str) -> dict[str, Any]:
    response = await partner.report(await report_body(user, items, rid=rid))
    assert response.status_code == 201, response.text
    return response.json()


async def three_reports(api: Api, partner: Partner) -> dict[str, Any]:
    """r-a: metro_ride x2 + bus_ride x1 (184 g); r-b: bus_ride x1 (80 g); r-c: metro_ride x1 (52 g), voided."""
    ada, bo = await api.register(), await api.register()
    first = await sent(partner, ada, [("metro_ride", 2), ("bus_ride", 1)], "r-a")
    await sent(partner, bo, [("bus_ride", 1)], "r-b")
    await sent(partner, ada, [("metro_ride", 1)], "r-c")
    voided = await partner.void("r-c", "ticket refunded")
    assert voided.status_code == 200 and voided.json()["voided_g"] == 52
    return {"ada_ref": first["user_ref"], "ada": ada}


async def test_the_dashboard_shows_the_months_figures_by_day_and_by_action(api: Api) -> None:
    partner, other = await make_partner(api), await make_partner(api)
    await three_reports(api, partner)
    portal = await owner_of(api, partner)
    today = (await api.now()).date()

    page = await portal.get("/partner/")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = text_of(page.text)
    assert "Reports 3 Energy awarded 316 g CO₂ avoided 264 g Voids 1" in text
    assert f"{today.isoformat()} 3 316 g 264 g 1" in text  # the day's row of the table
    assert "metro_ride 2 156 g 104 g 1" in text and "bus_ride 2 160 g 160 g 0" in text
    assert text.index("bus_ride 2 160 g") < text.index("metro_ride 2 156 g")  # most energy first
    svg = page.text.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert svg.count('class="bar-avoided"') == 1 and svg.count('class="bar-voided"') == 1
    month = today.strftime("%Y-%m")
    assert f'href="/partner/reports.csv?from={month}-01&amp;to=' in page.text

    earlier = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    assert "No report this month." in text_of((await portal.get(f"/partner/?month={earlier}")).text)
    for bad in ("2026-13", "26-01", "1999-12", "3000-01", "x" * 7):
        assert (await portal.get(f"/partner/?month={bad}")).status_code == 400, bad
    assert (await portal.get("/partner/?month=" + "9" * 8)).status_code == 400

    stranger = await owner_of(api, other, "owner@other.example")
    assert "Reports 0 Energy awarded 0 g CO₂ avoided 0 g Voids 0" in text_of((await stranger.get("/partner/")).text)


async def test_reports_are_filtered_and_paged(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    partner = await make_partner(api)
    known = await three_reports(api, partner)
    portal = await owner_of(api, partner)
    today = (await api.now()).date().isoformat()

    def listed(html: str) -> list[str]:
        return re.findall(r'<code class="report-id">([^<]+)</code>', html)

    assert listed((await portal.get("/partner/reports")).text) == ["r-c", "r-b", "r-a"]
    voided = await portal.get("/partner/reports?status=voided")
    assert listed(voided.text) == ["r-c"] and "52 g taken back" in text_of(voided.text)
    assert listed((await portal.get("/partner/reports?status=awarded")).text) == ["r-b", "r-a"]
    assert listed((await portal.get("/partner/reports?action=bus_ride")).text) == ["r-b", "r-a"]
    assert listed((await portal.get("/partner/reports?q=r-b")).text) == ["r-b"]
    assert listed((await portal.get(f"/partner/reports?q={known['ada_ref']}")).text) == ["r-c", "r-a"]
    assert listed((await portal.get(f"/partner/reports?from={today}&to={today}")).text) == ["r-c", "r-b", "r-a"]
    assert listed((await portal.get("/partner/reports?from=2000-01-01&to=2000-01-31")).text) == []

    for query, field in (("from=2026-02-30", "from"), ("to=yesterday", "to"), (f"from={today}&to=2000-01-01", "to")):
        refused = await portal.get(f"/partner/reports?{query}")
        assert refused.status_code == 400 and 'aria-invalid="true"' in refused.text, query
        assert f'id="{field}-error"' in refused.text and listed(refused.text) == []
    assert (await portal.get("/partner/reports?action=tree_hugging")).status_code == 400
    assert (await portal.get("/partner/reports?status=lost")).status_code == 400

    monkeypatch.setattr(partner_pages, "PAGE_SIZE", 2)
    first = await portal.get("/partner/reports?action=metro_ride")
    assert listed(first.text) == ["r-c", "r-a"]
    monkeypatch.setattr(partner_pages, "PAGE_SIZE", 1)
    first = await portal.get("/partner/reports?action=metro_ride")
    [next_href] = re.findall(r'href="(/partner/reports\?[^"]+)">Next page', first.text)
    assert "action=metro_ride" in next_href
    assert listed((await portal.get(next_href.replace("&amp;", "&"))).text) == ["r-a"]


async def test_the_csv_export_of_a_period(api: Api) -> None:
    partner = await make_partner(api)
    known = await three_reports(api, partner)
    staff = await member_portal(
        api, org_kind=OrgKind.PARTNER, org_id=partner.id, role=MemberRole.STAFF, email="staff@cafe.example"
    )
    today = (await api.now()).date().isoformat()

    response = await staff.get(f"/partner/reports.csv?from={today}&to={today}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="canopy-reports-{today}-{today}.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["report_id"], r["action"], r["quantity"], r["energy_g"], r["status"]) for r in rows] == [
        ("r-a", "bus_ride", "1", "80", "awarded"),
        ("r-a", "metro_ride", "2", "104", "awarded"),
        ("r-b", "bus_ride", "1", "80", "awarded"),
        ("r-c", "metro_ride", "1", "52", "voided"),
    ]
    assert rows[0]["user_ref"] == known["ada_ref"] and rows[0]["occurred_at"].startswith(today)
    assert rows[3]["voided_g"] == "52" and rows[3]["void_reason"] == "ticket refunded" and rows[0]["voided_g"] == ""

    empty = await staff.get("/partner/reports.csv?from=2000-01-01&to=2000-12-31")
    assert empty.status_code == 200 and empty.text.strip().splitlines() == [",".join(partner_pages.portal.CSV_COLUMNS)]

    for query in (
        "",
        f"from={today}",
        "from=2026-02-30&to=2026-03-01",
        "from=20260101&to=20260102",
        f"from={today}&to=2000-01-01",
        "from=0001-01-01&to=0001-01-02",
        "from=9999-12-31&to=9999-12-31",
        "from=2000-01-01&to=2999-12-31",
        "from=" + "1" * 40,
    ):
        refused = await staff.get(f"/partner/reports.csv?{query}")
        assert refused.status_code == 400, query
        assert refused.headers["content-type"].startswith("text/html"), query


def signed_string(html: str) -> list[str]:
    return [unescape(s) for s in re.findall(r'<pre class="example signed"><code>(.*?)</code></pre>', html, re.S)]


async def test_refused_requests_are_kept_with_their_reason_and_the_signed_string(api: Api) -> None:
    partner, other = await make_partner(api), await make_partner(api)
    user = await api.register()
    portal = await owner_of(api, partner)

    body = await report_body(user, [("metro_ride", 1)], rid="bad-sig")
    forged = await partner.report(body, secret="psk_not-the-secret")
    assert forged.status_code == 401
    stale = await partner.report(await report_body(user, rid="stale"), timestamp=await partner.timestamp(-3600))
    assert stale.status_code == 401
    invalid = await partner.report({"report_id": "bad-body", "items": []})
    assert invalid.status_code == 400
    unknown = await partner.report(body, key_id="pk_nobody")
    assert unknown.status_code == 401
    assert (await other.report(await report_body(user, rid="theirs"), secret="wrong")).status_code == 401

    page = await portal.get("/partner/refused")
    assert page.status_code == 200
    text = text_of(page.text)
    assert text.count("401 invalid-signature") == 1 and text.count("401 signature-timestamp") == 1
    assert text.count("400 validation") == 1 and "pk_nobody" not in page.text and "theirs" not in page.text
    assert "The signature did not match" in text and "more than 300 seconds" in text
    [signed] = signed_string(page.text)
    timestamp = signed.split(".", 1)[0]
    assert signed == f"{timestamp}.POST./v1/partner/reports." + encode(body).decode()
    assert partner.secret not in page.text and "psk_" not in page.text
    assert text.index("400 validation") < text.index("401 signature-timestamp") < text.index("401 invalid-signature")

    key = await partner.new_key()
    revoke = await api.client.delete(f"/v1/admin/partners/{partner.id}/keys/{key['key_id']}", headers=api.operator)
    assert revoke.status_code == 204
    assert (await partner.report(body, key_id=key["key_id"], secret=key["secret"])).status_code == 401
    assert "401 unknown-key" in text_of((await portal.get("/partner/refused")).text)
    accepted = await partner.report(body)
    assert accepted.status_code == 201  # the refusals left nothing behind: the report_id is free


async def test_only_the_newest_100_refusals_are_kept(api: Api) -> None:
    partner = await make_partner(api)
    portal = await owner_of(api, partner)
    for index in range(103):
        response = await partner.report({"report_id": f"cap-{index:03d}"}, secret="wrong")
        assert response.status_code == 401
    page = await portal.get("/partner/refused")
    signed = signed_string(page.text)
    assert len(signed) == 100
    assert "cap-102" in signed[0] and "cap-003" in signed[-1]
    assert not any(f"cap-00{index}" in s for s in signed for index in range(3))


async def test_keys_owners_create_and_revoke_and_staff_cannot(api: Api) -> None:
    partner, other = await make_partner(api), await make_partner(api)
    owner = await owner_of(api, partner)
    staff = await member_portal(
        api, org_kind=OrgKind.PARTNER, org_id=partner.id, role=MemberRole.STAFF, email="staff@cafe.example"
    )
    assert (await staff.get("/partner/keys")).status_code == 403
    assert (await staff.post_form("/partner/keys")).status_code == 403
    assert (await staff.post_form(f"/partner/keys/{partner.key_id}/revoke")).status_code == 403
    assert 'href="/partner/keys"' not in (await staff.get("/partner/")).text
    assert 'href="/partner/keys"' in (await owner.get("/partner/")).text

    assert (await owner.post_form("/partner/keys", csrf=False)).status_code == 403
    assert len(re.findall(r"/revoke", (await owner.get("/partner/keys")).text)) == 1  # nothing created
    created = await owner.post_form("/partner/keys")
    assert created.status_code == 201
    key_id, secret = re.findall(r'<code class="secret">([^<]+)</code>', created.text)
    assert key_id.startswith("pk_") and secret.startswith("psk_")
    assert secret not in (await owner.get("/partner/keys")).text  # shown once
    user = await api.register()
    signed = await partner.report(await report_body(user), key_id=key_id, secret=secret)
    assert signed.status_code == 201, signed.text

    assert (await owner.post_form(f"/partner/keys/{key_id}/revoke", csrf=False)).status_code == 403
    assert (await partner.report(await report_body(user), key_id=key_id, secret=secret)).status_code == 201
    revoked = await owner.post_form(f"/partner/keys/{key_id}/revoke")
    assert revoked.status_code == 303 and revoked.headers["location"] == "/partner/keys?done=revoked"
    assert (await partner.report(await report_body(user), key_id=key_id, secret=secret)).status_code == 401

    stranger = await owner_of(api, other, "owner@other.example")
    assert (await stranger.post_form(f"/partner/keys/{partner.key_id}/revoke")).status_code == 404
    assert (await partner.report(await report_body(user))).status_code == 201  # still works


async def test_webhook_url_and_deliveries(api: Api, receiver: Receiver) -> None:
    partner, other = await make_partner(api), await make_partner(api)
    owner = await owner_of(api, partner)
    staff = await member_portal(
        api, org_kind=OrgKind.PARTNER, org_id=partner.id, role=MemberRole.STAFF, email="staff@cafe.example"
    )
    assert (
        await owner.post_form("/partner/webhooks/url", {"webhook_url": receiver.url}, csrf=False)
    ).status_code == 403
    assert (await staff.post_form("/partner/webhooks/url", {"webhook_url": receiver.url})).status_code == 403
    refused = await owner.post_form("/partner/webhooks/url", {"webhook_url": "ftp://hooks.example.com/x"})
    assert refused.status_code == 422 and "Not a usable webhook URL" in refused.text
    assert 'value="ftp://hooks.example.com/x"' in refused.text
    partner_row = await api.client.get(f"/v1/admin/partners/{partner.id}", headers=api.operator)
    assert partner_row.json()["webhook_url"] is None

    saved = await owner.post_form("/partner/webhooks/url", {"webhook_url": receiver.url})
    assert saved.status_code == 200
    [secret] = re.findall(r'<code class="secret">([^<]+)</code>', saved.text)
    assert secret.startswith("whsec_")
    assert secret not in (await owner.get("/partner/webhooks")).text

    user = await api.register()
    await sent(partner, user, [("metro_ride", 1)], "to-void")
    assert (await partner.void("to-void")).status_code == 200
    assert (await api.run_job("deliver-webhooks"))["delivered"] == 1
    page = await owner.get("/partner/webhooks")
    assert "report.voided" in page.text and "Delivered" in page.text
    [delivery] = re.findall(r"/partner/webhooks/([0-9a-f-]{36})/send-again", page.text)

    stranger = await owner_of(api, other, "owner@other.example")
    assert (await stranger.post_form(f"/partner/webhooks/{delivery}/send-again")).status_code == 404
    assert (await owner.post_form(f"/partner/webhooks/{delivery}/send-again", csrf=False)).status_code == 403
    assert (await api.run_job("deliver-webhooks"))["delivered"] == 0
    again = await staff.post_form(f"/partner/webhooks/{delivery}/send-again")
    assert again.status_code == 303 and again.headers["location"] == "/partner/webhooks?done=sent"
    assert (await api.run_job("deliver-webhooks"))["delivered"] == 1
    assert len({r["headers"]["Canopy-Event-Id"] for r in receiver.received}) == 1 and len(receiver.received) == 2

    assert (await owner.post_form("/partner/webhooks/url/clear", csrf=False)).status_code == 403
    cleared = await owner.post_form("/partner/webhooks/url/clear")
    assert cleared.status_code == 303 and cleared.headers["location"] == "/partner/webhooks?done=cleared"
    partner_row = await api.client.get(f"/v1/admin/partners/{partner.id}", headers=api.operator)
    assert partner_row.json()["webhook_url"] is None


async def test_every_partner_page_has_the_portals_navigation_and_only_partners_get_in(api: Api) -> None:
    partner = await make_partner(api)
    owner = await owner_of(api, partner)
    for path in (
        "/partner/",
        "/partner/reports",
        "/partner/refused",
        "/partner/webhooks",
        "/partner/keys",
        "/partner/members",
    ):
        page = await owner.get(path)
        assert page.status_code == 200, path
        nav = page.text.split("<nav", 1)[1].split("</nav>", 1)[0]
        for href in ("/partner/", "/partner/reports", "/partner/refused", "/partner/webhooks", "/partner/members"):
            assert f'href="{href}"' in nav, (path, href)
        assert 'aria-current="page"' in nav, path

    signed_out = await api.client.get("/partner/reports", follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login?next=")
    ngo = await create_ngo(api, "Leaf NGO")
    ngo_owner = await member_portal(api, org_kind=OrgKind.NGO, org_id=ngo.id, email="ngo@ngo.example")
    assert (await ngo_owner.get("/partner/")).status_code == 403
