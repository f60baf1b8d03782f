"""Catalogue names in English and Simplified Chinese (SPEC 12.1, 3): the JSON API answers in the
language of `Accept-Language` (a user's own language when they send none), says so in
`Content-Language` and `Vary`, and operators set the translations."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import httpx
import pytest

from server.certificates.signing import verify
from tests.api import Api, User
from tests.certificates.test_certificates import issue_for_new_tree
from tests.ops.test_cli import canopy
from tests.social.helpers import befriend

ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
EN = {"Accept-Language": "en-GB"}

ACTION_NAMES_ZH = {
    "walk": "步行",
    "metro_ride": "地铁出行",
    "bus_ride": "公交出行",
    "bike_share_ride": "共享单车骑行",
    "offline_payment": "无现金支付",
    "e_invoice": "电子发票",
    "online_utility_bill": "在线生活缴费",
    "train_ticket_online": "网上购买火车票",
    "movie_ticket_online": "网上购买电影票",
    "reusable_cup": "咖啡店自带杯",
    "no_cutlery_order": "外卖不要餐具",
    "no_plastic_bag": "不用塑料袋",
}
SPECIES_NAMES_ZH = {
    "Haloxylon ammodendron": "梭梭",
    "Tamarix ramosissima": "红柳（多枝柽柳）",  # noqa: RUF001 (Chinese brackets)
    "Salix psammophila": "北沙柳",
    "Pinus sylvestris var. mongolica": "樟子松",
}
SPECIES_NAMES_EN = {
    "Haloxylon ammodendron": "Saxaul",
    "Tamarix ramosissima": "Red willow (tamarisk)",
    "Salix psammophila": "Sand willow",
    "Pinus sylvestris var. mongolica": "Mongolian pine",
}


def assert_in_language(response: httpx.Response, language: str) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers["content-language"] == language
    assert "Accept-Language" in [v.strip() for v in response.headers["vary"].split(",")]
    return response.json()


async def get(api: Api, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return await api.client.get(path, headers=headers or {})


async def test_actions_in_both_languages(api: Api) -> None:
    zh = assert_in_language(await get(api, "/v1/catalog/actions", ZH), "zh-Hans")
    assert {a["code"]: a["name"] for a in zh["items"]} == ACTION_NAMES_ZH
    en = assert_in_language(await get(api, "/v1/catalog/actions"), "en")
    assert {a["code"]: a["name"] for a in en["items"]}["metro_ride"] == "Metro ride"
    # only the name changes: the rules and the citations are the same in both
    strip = [{k: v for k, v in a.items() if k != "name"} for a in en["items"]]
    assert strip == [{k: v for k, v in a.items() if k != "name"} for a in zh["items"]]


async def test_species_projects_and_geojson_in_both_languages(api: Api) -> None:
    zh = assert_in_language(await get(api, "/v1/species", ZH), "zh-Hans")
    assert {s["scientific_name"]: s["common_name"] for s in zh["items"]} == SPECIES_NAMES_ZH
    en = assert_in_language(await get(api, "/v1/species", EN), "en")
    assert {s["scientific_name"]: s["common_name"] for s in en["items"]} == SPECIES_NAMES_EN
    assert [s["id"] for s in zh["items"]] == [s["id"] for s in en["items"]]  # the same order in both

    projects = assert_in_language(await get(api, "/v1/projects", ZH), "zh-Hans")["items"]
    desert = next(p for p in projects if p["name"] == "Alxa desert restoration")
    assert {s["scientific_name"]: s["common_name"] for s in desert["species"]} == SPECIES_NAMES_ZH

    geojson = assert_in_language(await get(api, "/v1/projects.geojson", ZH), "zh-Hans")
    nursery = next(f for f in geojson["features"] if f["properties"]["name"] == "Alxa nursery")
    assert [s["common_name"] for s in nursery["properties"]["species"]] == ["梭梭"]
    geojson_en = assert_in_language(await get(api, "/v1/projects.geojson", {"Accept-Language": "fr, de"}), "en")
    nursery = next(f for f in geojson_en["features"] if f["properties"]["name"] == "Alxa nursery")
    assert [s["common_name"] for s in nursery["properties"]["species"]] == ["Saxaul"]


async def test_answers_never_mix_languages(api: Api) -> None:
    """Alternating languages on each route: every answer is in the language of its own request."""
    asked = [(EN, "en"), (ZH, "zh-Hans"), (EN, "en"), (ZH, "zh-Hans"), ({}, "en")]
    for path in ("/v1/catalog/actions", "/v1/species", "/v1/projects", "/v1/projects.geojson"):
        bodies = [assert_in_language(await get(api, path, headers), language) for headers, language in asked]
        assert bodies[0] == bodies[2] == bodies[4] and bodies[1] == bodies[3] and bodies[0] != bodies[1], path


async def test_a_missing_translation_shows_the_english_name(api: Api) -> None:
    created = await api.client.post(
        "/v1/admin/species",
        json={"common_name": "Desert poplar", "scientific_name": "Populus euphratica", "co2_lifetime_kg": 300},
        headers=api.operator,
    )
    assert created.status_code == 201, created.text
    assert created.json()["common_names"] == {}
    zh = assert_in_language(await get(api, "/v1/species", ZH), "zh-Hans")
    assert {s["scientific_name"]: s["common_name"] for s in zh["items"]}["Populus euphratica"] == "Desert poplar"


async def test_operators_set_change_and_remove_translations(api: Api) -> None:
    body = {
        "code": "tap_water",
        "name": "Tap water instead of bottled",
        "names": {"zh-Hans": "喝自来水"},
        "unit": "item",
        "grams_per_unit": 20,
        "verification": "partner",
        "factor_source": "test",
        "baseline": "a bottle",
    }
    created = await api.client.post("/v1/admin/actions", json=body, headers=api.operator)
    assert created.status_code == 201, created.text
    assert created.json()["names"] == {"zh-Hans": "喝自来水"} and created.json()["name"] == body["name"]

    changed = await api.client.patch(
        "/v1/admin/actions/tap_water", json={"names": {"zh-Hans": "饮用自来水"}}, headers=api.operator
    )
    assert changed.status_code == 200 and changed.json()["names"] == {"zh-Hans": "饮用自来水"}
    zh = assert_in_language(await get(api, "/v1/catalog/actions", ZH), "zh-Hans")
    assert {a["code"]: a["name"] for a in zh["items"]}["tap_water"] == "饮用自来水"

    # other fields leave the translations alone; null removes one
    other = await api.client.patch("/v1/admin/actions/tap_water", json={"grams_per_unit": 21}, headers=api.operator)
    assert other.json()["names"] == {"zh-Hans": "饮用自来水"}
    removed = await api.client.patch(
        "/v1/admin/actions/tap_water", json={"names": {"zh-Hans": None}}, headers=api.operator
    )
    assert removed.status_code == 200 and removed.json()["names"] == {}
    zh = assert_in_language(await get(api, "/v1/catalog/actions", ZH), "zh-Hans")
    assert {a["code"]: a["name"] for a in zh["items"]}["tap_water"] == "Tap water instead of bottled"

    saxaul = next(s for s in (await get(api, "/v1/species")).json()["items"] if s["common_name"] == "Saxaul")
    listed = await api.client.get("/v1/admin/species", headers=api.operator)
    assert listed.status_code == 200
    assert next(s for s in listed.json()["items"] if s["id"] == saxaul["id"])["common_names"] == {"zh-Hans": "梭梭"}
    renamed = await api.client.patch(
        f"/v1/admin/species/{saxaul['id']}", json={"common_names": {"zh-Hans": "梭梭树"}}, headers=api.operator
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["common_names"] == {"zh-Hans": "梭梭树"} and renamed.json()["common_name"] == "Saxaul"
    zh = assert_in_language(await get(api, "/v1/species", ZH), "zh-Hans")
    assert next(s for s in zh["items"] if s["id"] == saxaul["id"])["common_name"] == "梭梭树"
    again = await api.client.patch(
        f"/v1/admin/species/{saxaul['id']}", json={"common_names": {"zh-Hans": "梭梭树"}}, headers=api.operator
    )
    assert again.json() == renamed.json()  # repeating the change changes nothing

    missing = await api.client.patch(
        "/v1/admin/species/00000000-0000-7000-8000-000000000000", json={"common_names": {}}, headers=api.operator
    )
    assert missing.status_code == 404 and missing.json()["type"].endswith("species-not-found")
    user = await api.register()
    refused = await api.client.patch(
        f"/v1/admin/species/{saxaul['id']}", json={"common_names": {"zh-Hans": "x"}}, headers=user.headers
    )
    assert refused.status_code == 403


BAD_NAMES = [
    pytest.param({"fr": "Marche"}, id="unknown-language"),
    pytest.param({"en": "Walking"}, id="english-is-the-name-itself"),
    pytest.param({"zh-Hans": "步" * 81}, id="too-long"),
    pytest.param({"zh-Hans": ""}, id="empty"),
    pytest.param({"zh-Hans": "   "}, id="blank"),
    pytest.param({"zh-Hans": "步行\u0000"}, id="control-character"),
    pytest.param({"zh-Hans": 5}, id="not-text"),
    pytest.param(["zh-Hans", "步行"], id="not-an-object"),
]


@pytest.mark.parametrize("names", BAD_NAMES)
async def test_bad_translations_are_refused(api: Api, names: Any) -> None:
    saxaul = next(s for s in (await get(api, "/v1/species")).json()["items"] if s["common_name"] == "Saxaul")
    attempts = [
        ("PATCH", "/v1/admin/actions/walk", {"names": names}),
        (
            "POST",
            "/v1/admin/species",
            {"common_name": "X", "scientific_name": "Y", "co2_lifetime_kg": 1, "common_names": names},
        ),
        ("PATCH", f"/v1/admin/species/{saxaul['id']}", {"common_names": names}),
    ]
    for method, path, body in attempts:
        response = await api.client.request(method, path, json=body, headers=api.operator)
        assert response.status_code == 400, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    actions = assert_in_language(await get(api, "/v1/catalog/actions", ZH), "zh-Hans")["items"]
    assert next(a for a in actions if a["code"] == "walk")["name"] == "步行"  # nothing changed


async def test_a_lone_surrogate_in_a_translation_is_refused(api: Api) -> None:
    response = await api.client.patch(
        "/v1/admin/actions/walk",
        content=json.dumps({"names": {"zh-Hans": "步\ud800"}}).encode(),
        headers={**api.operator, "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"


async def user_with_tree(api: Api, **fields: Any) -> tuple[User, dict[str, Any]]:
    user = await api.register(**fields)
    project = await api.project()
    adopted = await user.post(
        "/v1/me/trees", json={"project_id": project["id"], "species_id": project["species"][0]["species_id"]}
    )
    assert adopted.status_code == 201, adopted.text
    return user, adopted.json()


async def user_get(user: User, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return await user.api.client.get(path, headers={**user.headers, **(headers or {})})


async def test_trees_speak_the_header_else_the_users_language(api: Api) -> None:
    user, tree = await user_with_tree(api, language="zh-Hans")
    # adopted without a header: the account's own language
    assert (tree["species"]["common_name"], tree["stage"], tree["stage_name"]) == ("梭梭", "seed", "种子")
    mine = assert_in_language(await user_get(user, f"/v1/me/trees/{tree['id']}"), "zh-Hans")
    assert mine["species"]["common_name"] == "梭梭"
    english = assert_in_language(await user_get(user, f"/v1/me/trees/{tree['id']}", EN), "en")
    assert (english["species"]["common_name"], english["stage_name"]) == ("Saxaul", "Seed")
    # a header naming none of our languages leaves the account's language
    other = assert_in_language(await user_get(user, "/v1/me/trees", {"Accept-Language": "de-DE"}), "zh-Hans")
    assert other["items"][0]["species"]["common_name"] == "梭梭"
    forest = assert_in_language(await user_get(user, "/v1/me/forest", EN), "en")
    assert forest["tree"]["species"]["common_name"] == "Saxaul"

    english_user, _ = await user_with_tree(api)
    forest = assert_in_language(await user_get(english_user, "/v1/me/forest"), "en")
    assert forest["tree"]["stage_name"] == "Seed"
    forest = assert_in_language(await user_get(english_user, "/v1/me/forest", ZH), "zh-Hans")
    assert (forest["tree"]["species"]["common_name"], forest["tree"]["stage_name"]) == ("梭梭", "种子")

    await befriend(user, english_user)
    friend = assert_in_language(await user_get(user, f"/v1/users/{english_user.handle}/forest"), "zh-Hans")
    assert (friend["tree"]["species"]["common_name"], friend["tree"]["stage_name"]) == ("梭梭", "种子")


async def test_problems_carry_no_content_language(api: Api) -> None:
    user = await api.register(language="zh-Hans")
    missing = await user_get(user, "/v1/me/trees/00000000-0000-7000-8000-000000000000", ZH)
    assert missing.status_code == 404 and "content-language" not in missing.headers


async def test_a_certificate_keeps_its_signed_words_in_every_language(api: Api) -> None:
    number, _ = await issue_for_new_tree(api)
    key = (await get(api, "/v1/certificates/public-key")).json()["public_key"]
    answers = [await get(api, f"/v1/certificates/{number}", headers) for headers in (ZH, EN)]
    assert answers[0].json() == answers[1].json() and answers[0].json()["species"] == "Saxaul"
    assert "content-language" not in answers[0].headers
    body = answers[0].json()
    assert verify(key, body)


def test_seeding_again_adds_the_translations_an_older_seed_lacked(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/older.db"
    assert canopy(url, "migrate").returncode == 0
    assert canopy(url, "seed-demo").returncode == 0
    with sqlite3.connect(tmp_path / "older.db") as db:  # as the migration leaves rows seeded before it
        db.execute("UPDATE action_types SET names = '{}'")
        db.execute("UPDATE species SET common_names = '{}' WHERE scientific_name != 'Salix psammophila'")
        db.execute(
            """UPDATE species SET common_names = '{"zh-Hans": "沙柳"}' WHERE scientific_name = 'Salix psammophila'"""
        )
    again = canopy(url, "seed-demo")
    assert json.loads(again.stdout)["created"]["translations"] == 12 + 3
    with sqlite3.connect(tmp_path / "older.db") as db:
        names = dict(db.execute("SELECT scientific_name, common_names FROM species").fetchall())
    assert json.loads(names["Haloxylon ammodendron"]) == {"zh-Hans": "梭梭"}
    assert json.loads(names["Salix psammophila"]) == {"zh-Hans": "沙柳"}  # an operator's choice stays


async def test_a_bad_language_field_is_still_a_400(api: Api) -> None:
    """Litestar answers 500 to a failed body field named like a dependency: the language of an answer
    is injected as `answer_language`, so the `language` fields of requests stay plain input."""
    user = await api.register()
    for body in ({"language": {}}, {"language": "fr"}):
        response = await user.patch("/v1/me", json=body)
        assert response.status_code == 400, response.text
    body = {"handle": "lang", "password": "correct horse battery", "display_name": "L", "language": {}}
    assert (await api.client.post("/v1/auth/register", json=body)).status_code == 400
