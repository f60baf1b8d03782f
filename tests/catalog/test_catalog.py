"""The public catalogue (SPEC 3) as seeded by `canopy seed-demo` (CATALOG.md)."""

from __future__ import annotations

from tests.api import Api

EXPECTED_ACTIONS = {
    "walk": (1, 50, 296, None, None, "device"),
    "metro_ride": (52, 1, None, 5, None, "partner"),
    "bus_ride": (80, 1, None, 5, None, "partner"),
    "bike_share_ride": (40, 1, None, 5, None, "partner"),
    "offline_payment": (5, 1, None, 10, None, "partner"),
    "e_invoice": (5, 1, None, 5, None, "partner"),
    "online_utility_bill": (262, 1, None, None, 10, "partner"),
    "train_ticket_online": (136, 1, None, None, 10, "partner"),
    "movie_ticket_online": (180, 1, None, None, 10, "partner"),
    "reusable_cup": (110, 1, None, 3, None, "partner"),
    "no_cutlery_order": (16, 1, None, 3, None, "partner"),
    "no_plastic_bag": (5, 1, None, 5, None, "partner"),
}


async def test_actions_carry_their_rules_and_citations(api: Api) -> None:
    items = (await api.client.get("/v1/catalog/actions")).json()["items"]
    by_code = {a["code"]: a for a in items}
    assert set(by_code) == set(EXPECTED_ACTIONS)
    for code, (grams, per, cap_g, cap_day, cap_month, verification) in EXPECTED_ACTIONS.items():
        action = by_code[code]
        assert (action["grams_per_unit"], action["per_units"], action["daily_cap_g"]) == (grams, per, cap_g), code
        assert (action["daily_cap_count"], action["monthly_cap_count"]) == (cap_day, cap_month), code
        assert action["verification"] == verification
        assert action["factor_source"] and action["baseline"] and action["factor_year"]
        assert action["unit"] in {"step", "trip", "item", "bill", "km"}


async def test_species_and_projects(api: Api) -> None:
    species = (await api.client.get("/v1/species")).json()["items"]
    assert {s["common_name"] for s in species} == {"Saxaul", "Red willow (tamarisk)", "Sand willow", "Mongolian pine"}
    projects = (await api.client.get("/v1/projects")).json()["items"]
    assert [p["name"] for p in projects] == ["Alxa desert restoration", "Alxa nursery"]
    desert = projects[0]
    assert desert["ngo"]["name"] and desert["location"] == {"lat": 38.85, "lon": 105.67}
    assert desert["radius_km"] == 150 and desert["capacity_per_season"] == 100_000
    assert {s["common_name"]: s["cost_g"] for s in desert["species"]}["Saxaul"] == 17_900
    assert desert["seasons"] == [{"start": "03-15", "end": "05-31"}, {"start": "09-15", "end": "11-15"}]
    nursery = projects[1]
    assert nursery["in_season"] is True and nursery["remaining_capacity"] == 10_000


async def test_projects_geojson(api: Api) -> None:
    response = await api.client.get("/v1/projects.geojson")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/geo+json")
    collection = response.json()
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 2
    feature = next(f for f in collection["features"] if f["properties"]["name"] == "Alxa nursery")
    assert feature["geometry"] == {"type": "Point", "coordinates": [105.6, 38.8]}
