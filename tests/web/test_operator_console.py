"""The operator console (SPEC 12.4) over HTTP: every change through its page, checked through
the JSON API (the same services), with CSRF, PRG and errors next to their fields."""

from __future__ import annotations

import html
import re
import socket
from typing import Any

import httpx
import pytest

from server.members.models import MemberRole, OrgKind
from server.web.admin import SECRETS_COOKIE
from server.web.session import SESSION_COOKIE
from tests.api import Api, User
from tests.planting.helpers import Ngo, create_ngo, create_project, events, funded_user, queue_trees
from tests.web.portal import Portal, member_portal

DAY = 86_400
RETRY_SCHEDULE = [60, 300, 1800, 7200, 21600, 54000]


@pytest.fixture
async def operator(api: Api) -> Portal:
    return await member_portal(api, org_kind=OrgKind.OPERATOR, email="ops@canopy.example")


def dead_webhook() -> str:
    """A loopback URL nothing listens on: every delivery attempt is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


def text_of(response: httpx.Response) -> str:
    """The page's main content as text, tags removed and spaces squeezed."""
    main = response.text.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", main))).strip()


def figure(response: httpx.Response, label: str) -> str:
    """The number under a label of a `.figures` list."""
    found = re.search(re.escape(label) + r"(?:</a>)?</dt><dd>([^<]*)</dd>", response.text)
    assert found, (label, text_of(response))
    return found.group(1)


async def overdue_order(api: Api, ngo: Ngo, trees: int = 3) -> tuple[User, dict[str, Any]]:
    """`trees` trees of a user in one order of `ngo`, not acknowledged in 7 days: overdue."""
    project = await create_project(api, ngo, name=f"Grove of {ngo.id[-6:]}")
    user = await funded_user(api)
    await queue_trees(user, project, trees)
    assert (await api.run_job("batch-planting-orders"))["orders_created"] == 1
    await api.advance(7 * DAY + 60)
    assert (await api.run_job("order-reminders"))["orders_overdue"] == 1
    (order,) = await ngo.orders()
    return user, await ngo.order(order["id"])


async def fail_deliveries(api: Api) -> None:
    """Run the delivery job through the whole retry schedule: what cannot be delivered fails."""
    await api.run_job("deliver-webhooks")
    for offset in RETRY_SCHEDULE:
        await api.advance(offset + 1)
        await api.run_job("deliver-webhooks")


async def failed_deliveries(api: Api) -> list[dict[str, Any]]:
    response = await api.client.get("/v1/admin/webhook-deliveries", params={"status": "failed"}, headers=api.operator)
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.settings(order_min_trees=3)
async def test_the_health_page_shows_the_numbers(api: Api, operator: Portal) -> None:
    ngo = await create_ngo(api, webhook_url=dead_webhook())
    user, _ = await overdue_order(api, ngo)
    project = await create_project(api, ngo, name="Waiting grove")
    await queue_trees(user, project, 2)
    await fail_deliveries(api)
    assert len(await failed_deliveries(api)) == 2  # order.issued and order.overdue

    page = await operator.get("/admin/")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert figure(page, "Overdue orders") == "1"
    assert figure(page, "Failed webhooks") == "2"
    assert figure(page, "Failed emails") == "0" and figure(page, "Failed pushes") == "0"
    audit = await api.audit()
    assert "The ledger balances" in text_of(page)
    assert figure(page, "Energy issued (g)") == f"{audit['issued_g']:,}"
    assert figure(page, "Spent on trees (g)") == "5"
    content = text_of(page)
    assert "batch-planting-orders every 15 min" in content
    assert re.search(r"batch-planting-orders every 15 min .* UTC ok orders_created 1 trees_ordered 3", content)
    assert re.search(r"deliver-webhooks every 1 min .* UTC ok delivered 0 failed 2 retrying 0", content)
    assert "expire-balls every 1 h never ran" in content
    assert re.search(r"Waiting grove active 2 ", content)
    assert "Grove of" not in content.split("Queued trees by project", 1)[1]  # its trees are ordered

    chinese = await operator.api.client.get("/admin/", headers={**operator.headers, "Accept-Language": "zh-CN"})
    assert '<html lang="zh-Hans">' in chinese.text and "系统状况" in chinese.text

    # A job run from the page shows its counts.
    ran = await operator.post_form("/admin/jobs/batch-planting-orders/run")
    assert ran.status_code == 303 and ran.headers["location"] == "/admin/?done=ran#jobs"
    page = await operator.get("/admin/?done=ran")
    assert "The job ran" in text_of(page)
    assert re.search(r"batch-planting-orders every 15 min .* UTC ok orders_created 0 trees_ordered 0", text_of(page))


@pytest.mark.settings(order_min_trees=3)
async def test_an_operator_cancels_an_overdue_order(api: Api, operator: Portal) -> None:
    ngo = await create_ngo(api, webhook_url=dead_webhook())
    user, order = await overdue_order(api, ngo)
    queued_at = {t["id"]: (await user.get(f"/v1/me/trees/{t['id']}")).json()["queued_at"] for t in order["trees"]}

    listed = await operator.get("/admin/orders")
    overdue_part = listed.text.split('id="overdue"', 1)[1].split('id="all"', 1)[0]
    assert f'href="/admin/orders/{order["id"]}"' in overdue_part
    page = await operator.get(f"/admin/orders/{order['id']}")
    assert page.status_code == 200 and 'action="/admin/orders/' in page.text
    path = f"/admin/orders/{order['id']}/cancel"

    empty = await operator.post_form(path, {"reason": "  "})
    assert empty.status_code == 422 and 'id="reason-error"' in empty.text and 'aria-invalid="true"' in empty.text

    confirm = await operator.post_form(path, {"reason": "No answer in 7 days"})
    assert confirm.status_code == 200
    assert "3 trees not planted yet go back to the queue" in text_of(confirm)
    assert 'name="confirm" value="yes"' in confirm.text and 'value="No answer in 7 days"' in confirm.text
    assert (await ngo.order(order["id"]))["status"] == "issued"  # nothing happened yet

    done = await operator.post_form(path, {"reason": "No answer in 7 days", "confirm": "yes"})
    assert done.status_code == 303 and done.headers["location"] == f"/admin/orders/{order['id']}?done=cancelled"
    shown = text_of(await operator.get(done.headers["location"]))
    assert "The order was cancelled" in shown and "No answer in 7 days" in shown
    assert "Cancel this order" not in shown

    cancelled = await ngo.order(order["id"])
    assert cancelled["status"] == "cancelled" and cancelled["overdue"] is False and cancelled["trees"] == []
    for tree_id, when in queued_at.items():
        tree = (await user.get(f"/v1/me/trees/{tree_id}")).json()
        assert (tree["status"], tree["order_id"], tree["queued_at"]) == ("queued", None, when)
    (event,) = await events(api, "order.cancelled")
    assert event["target_id"] == ngo.id and event["data"]["reason"] == "No answer in 7 days"
    assert figure(await operator.get("/admin/"), "Overdue orders") == "0"

    # Sending the confirmation again changes nothing; the first step now says why not.
    assert (await operator.post_form(path, {"reason": "again", "confirm": "yes"})).status_code == 303
    assert len(await events(api, "order.cancelled")) == 1
    refused = await operator.post_form(path, {"reason": "again"})
    assert refused.status_code == 409 and "Only an issued or acknowledged order can be cancelled" in refused.text


async def test_an_operator_suspends_and_unsuspends_a_user(api: Api, operator: Portal) -> None:
    user = await api.register("Rowan_Tree")
    unknown = await operator.get("/admin/users", params={"handle": "nobody_here"})
    assert unknown.status_code == 404 and "No user has that handle" in unknown.text
    assert 'value="nobody_here"' in unknown.text
    assert (await operator.get("/admin/users", params={"handle": "not a handle!"})).status_code == 404

    found = await operator.get("/admin/users", params={"handle": "Rowan_Tree"})
    assert found.status_code == 200 and "@rowan_tree" in found.text
    user_id = re.search(r'action="/admin/users/([^/]+)/suspend"', found.text).group(1)  # type: ignore[union-attr]

    empty = await operator.post_form(f"/admin/users/{user_id}/suspend", {"reason": "", "handle": "rowan_tree"})
    assert empty.status_code == 422 and 'id="reason-error"' in empty.text
    assert (await user.get("/v1/me")).status_code == 200

    suspended = await operator.post_form(
        f"/admin/users/{user_id}/suspend", {"reason": "Reported for fake steps", "handle": "rowan_tree"}
    )
    assert suspended.status_code == 303
    assert suspended.headers["location"] == "/admin/users?handle=rowan_tree&done=suspended"
    shown = text_of(await operator.get(suspended.headers["location"]))
    assert "The user is suspended" in shown and "Reported for fake steps" in shown
    refused = await user.get("/v1/me")
    assert refused.status_code == 403 and refused.json()["type"].endswith(":account-suspended")

    unsuspended = await operator.post_form(f"/admin/users/{user_id}/unsuspend")
    assert unsuspended.status_code == 303
    login = await api.client.post("/v1/auth/login", json={"handle": "rowan_tree", "password": "correct horse battery"})
    assert login.status_code == 200
    assert "Suspend the user" in text_of(await operator.get("/admin/users", params={"handle": "rowan_tree"}))


@pytest.mark.settings(order_min_trees=1)
async def test_an_operator_sends_a_failed_delivery_again(api: Api, operator: Portal) -> None:
    ngo = await create_ngo(api, "Far Away Trees", webhook_url=dead_webhook())
    project = await create_project(api, ngo)
    await queue_trees(await funded_user(api), project, 1)
    await api.run_job("batch-planting-orders")
    await fail_deliveries(api)
    (delivery,) = await failed_deliveries(api)

    page = await operator.get("/admin/deliveries")
    assert page.status_code == 200 and "Far Away Trees" in page.text and "order.issued" in page.text
    assert f'action="/admin/deliveries/{delivery["id"]}/retry"' in page.text
    again = await operator.post_form(f"/admin/deliveries/{delivery['id']}/retry")
    assert again.status_code == 303 and again.headers["location"] == "/admin/deliveries?done=sent"
    assert await failed_deliveries(api) == []
    pending = await api.client.get("/v1/admin/webhook-deliveries", params={"status": "pending"}, headers=api.operator)
    assert [(d["id"], d["attempts"]) for d in pending.json()["items"]] == [(delivery["id"], 0)]
    assert "No delivery here" in text_of(await operator.get("/admin/deliveries"))
    assert (await operator.post_form("/admin/deliveries/no-such-delivery/retry")).status_code == 404


async def test_an_ngo_is_created_with_its_secrets_shown_once(api: Api, operator: Portal) -> None:
    bad = await operator.post_form("/admin/ngos", {"name": "Roots", "contact_email": "not an email"})
    assert bad.status_code == 422 and 'id="contact_email-error"' in bad.text
    assert 'value="Roots"' in bad.text and 'id="name-error"' not in bad.text
    fields = {"name": "Roots", "contact_email": "hi@roots.example", "webhook_url": "ftp://roots.example"}
    bad_url = await operator.post_form("/admin/ngos", fields)
    assert bad_url.status_code == 422 and "Use an https:// address" in bad_url.text
    assert 'value="ftp://roots.example"' in bad_url.text
    assert "Roots" not in text_of(await operator.get("/admin/ngos")).split("Add an NGO")[0]

    created = await operator.post_form(
        "/admin/ngos", {"name": "Roots", "contact_email": "hi@roots.example", "webhook_url": "https://roots.example/h"}
    )
    assert created.status_code == 303
    location = created.headers["location"]
    ngo_id = location.rsplit("/", 1)[1]
    secrets_cookie = created.cookies[SECRETS_COOKIE]
    assert (
        "httponly" in created.headers["set-cookie"].lower()
        and "samesite=strict" in created.headers["set-cookie"].lower()
    )
    assert ngo_id not in secrets_cookie and "ngo_" not in secrets_cookie  # encrypted

    def with_secrets(portal: Portal) -> dict[str, str]:
        return {"Cookie": f"{SESSION_COOKIE}={portal.cookie}; {SECRETS_COOKIE}={secrets_cookie}"}

    shown = await api.client.get(location, headers=with_secrets(operator))
    api_key = re.search(r'<code class="secret">(ngo_[^<]+)</code>', shown.text).group(1)  # type: ignore[union-attr]
    assert "whsec_" in shown.text and "Copy these now" in shown.text
    assert f'{SECRETS_COOKIE}=""' in shown.headers["set-cookie"] or "max-age=0" in shown.headers["set-cookie"].lower()
    orders = await api.client.get("/v1/ngo/orders", headers={"Authorization": f"Bearer {api_key}"})
    assert orders.status_code == 200
    assert "Copy these now" not in (await operator.get(location)).text  # without the cookie: gone
    other = await member_portal(api, org_kind=OrgKind.OPERATOR, email="other-op@canopy.example")
    assert "Copy these now" not in (await api.client.get(location, headers=with_secrets(other))).text
    assert f'href="/admin/ngos/{ngo_id}/members"' in shown.text

    taken = await operator.post_form("/admin/ngos", {"name": "Roots", "contact_email": "b@roots.example"})
    assert taken.status_code == 422 and "This name is taken" in taken.text

    # A second key, shown once, then revoked: it stops working.
    added = await operator.post_form(f"/admin/ngos/{ngo_id}/keys")
    assert added.status_code == 303
    page = await api.client.get(
        location,
        headers={"Cookie": f"{SESSION_COOKIE}={operator.cookie}; {SECRETS_COOKIE}={added.cookies[SECRETS_COOKIE]}"},
    )
    second_key = re.search(r'<code class="secret">(ngo_[^<]+)</code>', page.text).group(1)  # type: ignore[union-attr]
    key_id = re.search(r'<code class="secret">(nk_[^<]+)</code>', page.text).group(1)  # type: ignore[union-attr]
    headers = {"Authorization": f"Bearer {second_key}"}
    assert (await api.client.get("/v1/ngo/orders", headers=headers)).status_code == 200
    revoked = await operator.post_form(f"/admin/ngos/{ngo_id}/keys/{key_id}/revoke")
    assert revoked.status_code == 303 and revoked.headers["location"] == f"/admin/ngos/{ngo_id}?done=revoked"
    assert (await api.client.get("/v1/ngo/orders", headers=headers)).status_code == 401
    assert (await api.client.get("/v1/ngo/orders", headers={"Authorization": f"Bearer {api_key}"})).status_code == 200

    saved = await operator.post_form(
        location,
        {"name": "Roots and Shoots", "contact_email": "hi@roots.example", "webhook_url": "https://roots.example/h"},
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"{location}?done=saved"
    read = await api.client.get(f"/v1/admin/ngos/{ngo_id}", headers=api.operator)
    assert read.json()["name"] == "Roots and Shoots" and read.json()["webhook_url"] == "https://roots.example/h"


async def test_a_partner_is_created_with_its_signing_secret_shown_once(api: Api, operator: Portal) -> None:
    page = await operator.get("/admin/partners")
    assert 'name="action_metro_ride"' in page.text and 'name="action_walk"' not in page.text
    none_ticked = await operator.post_form("/admin/partners", {"name": "Metro", "kind": "transit"})
    assert none_ticked.status_code == 422 and 'id="allowed_actions-error"' in none_ticked.text
    created = await operator.post_form(
        "/admin/partners", {"name": "Metro", "kind": "transit", "action_metro_ride": "1", "action_bus_ride": "1"}
    )
    assert created.status_code == 303
    shown = await api.client.get(
        created.headers["location"],
        headers={"Cookie": f"{SESSION_COOKIE}={operator.cookie}; {SECRETS_COOKIE}={created.cookies[SECRETS_COOKIE]}"},
    )
    assert re.search(r'<code class="secret">psk_[^<]+</code>', shown.text)
    partner_id = created.headers["location"].rsplit("/", 1)[1]
    read = await api.client.get(f"/v1/admin/partners/{partner_id}", headers=api.operator)
    assert read.json()["kind"] == "transit" and sorted(read.json()["allowed_actions"]) == ["bus_ride", "metro_ride"]
    assert f'href="/admin/partners/{partner_id}/members"' in shown.text


async def test_projects_and_species_are_made_and_closed_from_the_console(api: Api, operator: Portal) -> None:
    ngo = await create_ngo(api)
    species = await operator.post_form(
        "/admin/species",
        {
            "common_name": "Console pine",
            "common_name_zh": "控制台松",
            "scientific_name": "Pinus",
            "co2_lifetime_kg": "x",
        },
    )
    assert species.status_code == 422 and 'id="co2_lifetime_kg-error"' in species.text
    assert 'value="控制台松"' in species.text
    species = await operator.post_form(
        "/admin/species",
        {
            "common_name": "Console pine",
            "common_name_zh": "控制台松",
            "scientific_name": "Pinus",
            "co2_lifetime_kg": "90",
        },
    )
    assert species.status_code == 303
    (pine,) = [
        s
        for s in (await api.client.get("/v1/admin/species", headers=api.operator)).json()["items"]
        if s["common_name"] == "Console pine"
    ]
    assert pine["common_names"] == {"zh-Hans": "控制台松"}

    fields = {
        "ngo_id": ngo.id,
        "name": "Console grove",
        "region": "Test valley",
        "lat": "10",
        "lon": "20",
        "radius_km": "5",
        "capacity_per_season": "1000",
        "seasons": "01-01 to 12-31",
        "species_id": pine["id"],
        "cost_g": "1",
    }
    bad = await operator.post_form("/admin/projects", fields | {"lat": "north", "seasons": "March", "cost_g": ""})
    assert bad.status_code == 422
    for name in ("lat", "seasons", "cost_g"):
        assert f'id="{name}-error"' in bad.text, name
    assert 'value="Console grove"' in bad.text
    created = await operator.post_form("/admin/projects", fields)
    assert created.status_code == 303
    project_id = created.headers["location"].split("/")[3].split("?")[0]
    public = (await api.client.get("/v1/projects")).json()["items"]
    assert [p["id"] for p in public if p["name"] == "Console grove"] == [project_id]

    grower = await api.register()
    funded = await funded_user(api)
    project_row = next(p for p in public if p["id"] == project_id)
    await queue_trees(funded, project_row, 2)
    adopted = await grower.post("/v1/me/trees", json={"project_id": project_id, "species_id": pine["id"]})
    assert adopted.status_code == 201

    path = f"/admin/projects/{project_id}"
    renamed = await operator.post_form(
        path,
        {k: fields[k] for k in ("region", "lat", "lon", "radius_km", "capacity_per_season", "seasons")}
        | {"name": "Console grove II"},
    )
    assert renamed.status_code == 303
    paused = await operator.post_form(f"{path}/status", {"status": "paused"})
    assert paused.status_code == 303 and paused.headers["location"] == f"{path}?done=paused"
    asked = await operator.post_form(f"{path}/status", {"status": "closed"})
    assert asked.status_code == 200 and "Yes, close the project" in asked.text
    statuses = {p["id"]: p["status"] for p in (await api.client.get("/v1/projects")).json()["items"]}
    assert statuses[project_id] == "paused"
    closed = await operator.post_form(f"{path}/status", {"status": "closed", "confirm": "yes"})
    assert closed.status_code == 303
    assert closed.headers["location"] == f"{path}?done=closed&cancelled=1&refunded=2"
    shown = text_of(await operator.get(closed.headers["location"]))
    assert "1 growing trees were cancelled and 2 queued trees refunded" in shown
    listing = text_of(await operator.get("/admin/projects"))
    assert "Console grove II" in listing and "closed" in listing
    assert (await api.audit())["ok"]


async def test_forms_without_the_csrf_token_change_nothing(api: Api, operator: Portal) -> None:
    user = await api.register()
    (found,) = [await api.client.get("/v1/admin/users", params={"handle": user.handle}, headers=api.operator)]
    user_id = found.json()["id"]
    refused = await operator.post_form(
        f"/admin/users/{user_id}/suspend", {"reason": "x", "handle": user.handle}, csrf=False
    )
    assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
    assert (await user.get("/v1/me")).status_code == 200
    wrong = await operator.post_form(
        "/admin/ngos", {"name": "Sneaky", "contact_email": "a@b.org", "csrf_token": "nope"}, csrf=False
    )
    assert wrong.status_code == 403
    assert "Sneaky" not in (await operator.get("/admin/ngos")).text
    assert (
        await operator.post_form(
            "/admin/species", {"common_name": "X", "scientific_name": "Y", "co2_lifetime_kg": "1"}, csrf=False
        )
    ).status_code == 403
    assert (await operator.post_form("/admin/jobs/prune/run", csrf=False)).status_code == 403


@pytest.mark.settings(order_min_trees=3)
async def test_a_cancel_without_the_csrf_token_changes_nothing(api: Api, operator: Portal) -> None:
    ngo = await create_ngo(api)
    _, order = await overdue_order(api, ngo)
    path = f"/admin/orders/{order['id']}/cancel"
    refused = await operator.post_form(path, {"reason": "x", "confirm": "yes"}, csrf=False)
    assert refused.status_code == 403
    assert (await ngo.order(order["id"]))["status"] == "issued"


async def test_only_operators_see_the_console_and_unknown_ids_are_404(api: Api, operator: Portal) -> None:
    anonymous = await api.client.get("/admin/", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=/admin"
    ngo = await create_ngo(api)
    member = await member_portal(api, org_kind=OrgKind.NGO, org_id=ngo.id, role=MemberRole.OWNER, email="o@ngo.example")
    for path in ("/admin/", "/admin/orders", f"/admin/ngos/{ngo.id}", "/admin/users"):
        page = await member.get(path)
        assert page.status_code == 403 and "text/html" in page.headers["content-type"], path
    assert (await member.post_form("/admin/ngos", {"name": "Mine", "contact_email": "a@b.org"})).status_code == 403
    assert "Mine" not in (await operator.get("/admin/ngos")).text

    for path in (
        "/admin/orders/no-such-order",
        "/admin/ngos/no-such-ngo",
        "/admin/partners/no-such-partner",
        "/admin/projects/no-such-project",
    ):
        page = await operator.get(path)
        assert page.status_code == 404 and "Page not found" in page.text, path
    assert (await operator.post_form("/admin/jobs/no-such-job/run")).status_code == 404
    assert (await operator.post_form("/admin/users/no-such-user/unsuspend")).status_code == 404
    for path in (
        "/admin/",
        "/admin/orders",
        "/admin/ngos",
        "/admin/partners",
        "/admin/projects",
        "/admin/projects/new",
        "/admin/species",
        "/admin/users",
        "/admin/deliveries",
        "/admin/deliveries/emails",
        "/admin/deliveries/pushes",
    ):
        page = await operator.get(path)
        assert page.status_code == 200, path
        assert 'href="/admin/operators"' in page.text and "aria-current=" in page.text, path
