"""The demo catalogue of CATALOG.md: Ant Forest's per-action grams with their sources."""

from __future__ import annotations

from typing import Any

ANT_FOREST = "Ant Forest {rule} (community rule lists, 2019-2022)"

ACTION_TYPES: list[dict[str, Any]] = [
    {
        "code": "walk",
        "name": "Walking",
        "names": {"zh-Hans": "步行"},
        "unit": "step",
        "grams_per_unit": 1,
        "per_units": 50,
        "daily_cap_g": 296,
        "verification": "device",
        "factor_year": 2022,
        "factor_source": "Ant Forest walking rule: 10,000 steps ~ 200 g, 296 g/day cap (2019-2022)",
        "baseline": "short car trips replaced",
    },
    {
        "code": "metro_ride",
        "name": "Metro ride",
        "names": {"zh-Hans": "地铁出行"},
        "unit": "trip",
        "grams_per_unit": 52,
        "daily_cap_count": 5,
        "verification": "partner",
        "factor_year": 2022,
        "factor_source": "Ant Forest metro rule (52 g a ride); the Guangzhou carbon-inclusive study credits "
        "0.52-0.54 kg a trip by full substitution (Climate Change Research 13(3), 2017); Ant Forest's value "
        "is about a tenth of it, a conservative share",
        "baseline": "average urban motorised trip",
    },
    {
        "code": "bus_ride",
        "name": "Bus ride",
        "names": {"zh-Hans": "公交出行"},
        "unit": "trip",
        "grams_per_unit": 80,
        "daily_cap_count": 5,
        "verification": "partner",
        "factor_year": 2022,
        "factor_source": ANT_FOREST.format(rule="bus rule"),
        "baseline": "average urban motorised trip",
    },
    {
        "code": "bike_share_ride",
        "name": "Shared bike ride",
        "names": {"zh-Hans": "共享单车骑行"},
        "unit": "trip",
        "grams_per_unit": 40,
        "daily_cap_count": 5,
        "verification": "partner",
        "factor_year": 2022,
        "factor_source": "Canopy estimate: a 1.5 km ride x UK DESNZ 2022 petrol car 170 g/pkm = 255 g if it "
        "replaced a car; most short rides replace walking or transit, so about 15% of that is credited",
        "baseline": "mix of car, bus and walking, 1.5 km",
    },
    {
        "code": "offline_payment",
        "name": "Cashless payment",
        "names": {"zh-Hans": "无现金支付"},
        "unit": "item",
        "grams_per_unit": 5,
        "daily_cap_count": 10,
        "verification": "partner",
        "factor_year": 2022,
        "factor_source": ANT_FOREST.format(rule="offline payment rule (amount >= 1 yuan)"),
        "baseline": "paper receipt and cash handling",
    },
    {
        "code": "e_invoice",
        "name": "Electronic invoice",
        "names": {"zh-Hans": "电子发票"},
        "unit": "item",
        "grams_per_unit": 5,
        "daily_cap_count": 5,
        "verification": "partner",
        "factor_year": 2022,
        "factor_source": ANT_FOREST.format(rule="e-invoice rule"),
        "baseline": "printed invoice",
    },
    {
        "code": "online_utility_bill",
        "name": "Utility bill paid online",
        "names": {"zh-Hans": "在线生活缴费"},
        "unit": "bill",
        "grams_per_unit": 262,
        "monthly_cap_count": 10,
        "verification": "partner",
        "factor_year": 2022,
        "factor_source": ANT_FOREST.format(rule="utility bill rule"),
        "baseline": "trip to a service counter and paper bill",
    },
    {
        "code": "train_ticket_online",
        "name": "Train ticket bought online",
        "names": {"zh-Hans": "网上购买火车票"},
        "unit": "item",
        "grams_per_unit": 136,
        "monthly_cap_count": 10,
        "verification": "partner",
        "factor_year": 2022,
        "factor_source": ANT_FOREST.format(rule="online train ticket rule"),
        "baseline": "paper ticket and station trip",
    },
    {
        "code": "movie_ticket_online",
        "name": "Movie ticket bought online",
        "names": {"zh-Hans": "网上购买电影票"},
        "unit": "item",
        "grams_per_unit": 180,
        "monthly_cap_count": 10,
        "verification": "partner",
        "factor_year": 2022,
        "factor_source": ANT_FOREST.format(rule="online movie ticket rule"),
        "baseline": "paper ticket and box-office trip",
    },
    {
        "code": "reusable_cup",
        "name": "Own cup at a cafe",
        "names": {"zh-Hans": "咖啡店自带杯"},
        "unit": "item",
        "grams_per_unit": 110,
        "daily_cap_count": 3,
        "verification": "partner",
        "factor_year": 2022,
        "factor_source": "EDF / Starbucks estimate: ~110 g CO2 per 16 oz paper cup with sleeve",
        "baseline": "single-use paper cup",
    },
    {
        "code": "no_cutlery_order",
        "name": "Takeaway without cutlery",
        "names": {"zh-Hans": "外卖不要餐具"},
        "unit": "item",
        "grams_per_unit": 16,
        "daily_cap_count": 3,
        "verification": "partner",
        "factor_year": 2022,
        "factor_source": "Ele.me no-tableware programme: 1.3 bn orders avoided ~6,000 t wood and 3,000 t "
        "plastic, about 6.9 g of material an order; at roughly 2.3 g CO2e per g of disposable wood and "
        "plastic ware, about 16 g",
        "baseline": "disposable cutlery set",
    },
    {
        "code": "no_plastic_bag",
        "name": "No plastic bag",
        "names": {"zh-Hans": "不用塑料袋"},
        "unit": "item",
        "grams_per_unit": 5,
        "daily_cap_count": 5,
        "verification": "partner",
        "factor_year": 2022,
        "factor_source": "Hema / Ant Forest no-plastic-bag action",
        "baseline": "single-use plastic bag",
    },
]

# Chinese names: the Flora of China's, or the name Chinese planting programmes use with it in brackets.
SPECIES: list[dict[str, Any]] = [
    {
        "common_name": "Saxaul",
        "common_names": {"zh-Hans": "梭梭"},
        "scientific_name": "Haloxylon ammodendron",
        "co2_lifetime_kg": 100,
        "cost_g": 17_900,
    },
    {
        "common_name": "Red willow (tamarisk)",
        "common_names": {"zh-Hans": "红柳（多枝柽柳）"},  # noqa: RUF001 (Chinese brackets)
        "scientific_name": "Tamarix ramosissima",
        "co2_lifetime_kg": 110,
        "cost_g": 22_400,
    },
    {
        "common_name": "Sand willow",
        "common_names": {"zh-Hans": "北沙柳"},
        "scientific_name": "Salix psammophila",
        "co2_lifetime_kg": 90,
        "cost_g": 16_930,
    },
    {
        "common_name": "Mongolian pine",
        "common_names": {"zh-Hans": "樟子松"},
        "scientific_name": "Pinus sylvestris var. mongolica",
        "co2_lifetime_kg": 500,
        "cost_g": 146_210,
    },
]

DEMO_NGO = {"name": "Alxa Green Partners (demo)", "contact_email": "plant@alxa-green.example"}

PROJECTS: list[dict[str, Any]] = [
    {
        "name": "Alxa desert restoration",
        "region": "Alxa League, Inner Mongolia",
        "lat": 38.85,
        "lon": 105.67,
        "radius_km": 150.0,
        "capacity_per_season": 100_000,
        "seasons": [{"start": "03-15", "end": "05-31"}, {"start": "09-15", "end": "11-15"}],
        "species": {name["common_name"]: name["cost_g"] for name in SPECIES},
    },
    {
        "name": "Alxa nursery",
        "region": "Alxa League, Inner Mongolia",
        "lat": 38.80,
        "lon": 105.60,
        "radius_km": 20.0,
        "capacity_per_season": 10_000,
        "seasons": [{"start": "01-01", "end": "12-31"}],
        "species": {"Saxaul": 17_900},
    },
]
