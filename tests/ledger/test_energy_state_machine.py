"""A Hypothesis state machine over the energy rules, through the HTTP API.

Three friends walk, collect, steal, water, plant cheap trees and run the expire job while the test
clock moves; a partner reports their bus and metro rides (signed, SPEC 7.2) and voids some reports
again, which claws energy back from the ball, what expired, the balance, and the rest as debt. After
every step the ledger audit must hold and every balance and debt must equal what the responses the
users received add up to (credits they were told about, paying debt first, minus what they spent
and what voids took).
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from litestar.testing import TestClient

from server.app import create_app
from server.settings import Settings
from tests.partners.helpers import encode, signature

HANDLES = ("alice", "bob", "carol")
PASSWORD = "correct horse battery"
VOID_WINDOW = timedelta(days=30)
# What the voids of a whole run did, printed by the test (and some must have ended in debt).
void_counts: Counter[str] = Counter()


class EnergyMachine(RuleBasedStateMachine):
    reports = Bundle("reports")

    def __init__(self, databases: Any, base: Settings) -> None:
        super().__init__()
        self.databases = databases
        self.url = databases.create()
        self.settings = base.model_copy(update={"database_url": self.url})
        self.client = TestClient(create_app(self.settings), base_url="http://canopy.test")
        self.client.__enter__()
        self.operator = {"Authorization": f"Bearer {self.settings.operator_token}"}
        self.headers: dict[str, dict[str, str]] = {}
        for handle in HANDLES:
            body = {"handle": handle, "password": PASSWORD, "display_name": handle.title()}
            token = self.client.post("/v1/auth/register", json=body).json()["access_token"]
            self.headers[handle] = {"Authorization": f"Bearer {token}"}
        for asker, accepter in (("alice", "bob"), ("bob", "carol"), ("carol", "alice")):
            request = self.client.post("/v1/me/friends", json={"handle": accepter}, headers=self.headers[asker])
            self.client.post(f"/v1/me/friend-requests/{request.json()['id']}/accept", headers=self.headers[accepter])
        self.project, self.species = self._cheap_project()
        self.partner = self.client.post(
            "/v1/admin/partners",
            json={"name": "Machine transit", "kind": "transit", "allowed_actions": ["bus_ride", "metro_ride"]},
            headers=self.operator,
        ).json()
        self.report_ids = itertools.count(1)
        self.user_refs: dict[str, str] = {}
        self.voids: dict[str, dict[str, Any]] = {}  # report_id -> the first void response
        self.robbed: set[tuple[str, str, str]] = set()  # (owner, action, ripening day) of balls stolen from
        self.expected = dict.fromkeys(HANDLES, 0)
        self.owed = dict.fromkeys(HANDLES, 0)
        for handle in HANDLES:  # everyone starts with one collected day of walking (296 g)
            self.walk(handle, 14_800)
        self.next_morning()
        for handle in HANDLES:
            self.collect(handle)

    def _cheap_project(self) -> tuple[str, str]:
        ngo = self.client.get("/v1/projects").json()["items"][0]["ngo"]["id"]
        species = self.client.post(
            "/v1/admin/species",
            json={"common_name": "Machine elm", "scientific_name": "Ulmus machina", "co2_lifetime_kg": 1},
            headers=self.operator,
        ).json()["id"]
        project = self.client.post(
            "/v1/admin/projects",
            json={
                "ngo_id": ngo,
                "name": "Machine grove",
                "region": "Test",
                "location": {"lat": 1.0, "lon": 1.0},
                "radius_km": 1,
                "species": [{"species_id": species, "cost_g": 150}],
                "capacity_per_season": 1000,
                "seasons": [{"start": "01-01", "end": "12-31"}],
            },
            headers=self.operator,
        ).json()["id"]
        return project, species

    def teardown(self) -> None:
        self.client.__exit__(None, None, None)
        self.databases.drop(self.url)

    def _now(self) -> datetime:
        return datetime.fromisoformat(self.client.get("/v1/admin/clock", headers=self.operator).json()["now"])

    def _today(self) -> str:
        return self._now().date().isoformat()

    def _credit(self, user: str, grams: int) -> None:
        """A credit pays the user's debt first (SPEC 4.3)."""
        repaid = min(self.owed[user], grams)
        self.owed[user] -= repaid
        self.expected[user] += grams - repaid

    def _signed_post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """A partner's request, signed as SPEC 7.2 says with the test clock's time."""
        raw, stamp = encode(body), str(int(self._now().timestamp()))
        headers = {
            "Canopy-Key-Id": self.partner["key_id"],
            "Canopy-Timestamp": stamp,
            "Canopy-Signature": f"v1={signature(self.partner['secret'], stamp, 'POST', path, raw)}",
            "content-type": "application/json",
        }
        return self.client.post(path, content=raw, headers=headers)

    @rule(user=st.sampled_from(HANDLES), steps=st.sampled_from([0, 2_500, 9_000, 14_800, 20_000]))
    def walk(self, user: str, steps: int) -> None:
        response = self.client.put(f"/v1/me/steps/{self._today()}", json={"steps": steps}, headers=self.headers[user])
        assert response.status_code == 200, response.text

    def _advance(self, seconds: int) -> None:
        response = self.client.post("/v1/admin/clock", json={"advance_seconds": seconds}, headers=self.operator)
        assert response.status_code == 200, response.text

    @rule(hours=st.sampled_from([1, 12, 80]))
    def time_passes(self, hours: int) -> None:
        self._advance(hours * 3600)

    @rule()
    def next_morning(self) -> None:
        """08:00 UTC tomorrow: yesterday's balls are ripe (everyone is in UTC)."""
        now = self._now()
        morning = now.replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=1)
        self._advance(int((morning - now).total_seconds()))

    @rule(user=st.sampled_from(HANDLES))
    def collect(self, user: str) -> None:
        response = self.client.post("/v1/me/balls/collect", headers=self.headers[user])
        assert response.status_code == 200, response.text
        self._credit(user, response.json()["collected_g"])

    @rule(thief=st.sampled_from(HANDLES), owner=st.sampled_from(HANDLES))
    def steal(self, thief: str, owner: str) -> None:
        if thief == owner:
            return
        forest = self.client.get(f"/v1/users/{owner}/forest", headers=self.headers[thief]).json()
        for ball in forest["balls"]:
            response = self.client.post(f"/v1/users/{owner}/balls/{ball['id']}/steal", headers=self.headers[thief])
            assert response.status_code in (200, 409), response.text
            if response.status_code == 200:
                self._credit(thief, response.json()["stolen_g"])
                self.robbed.add((owner, ball["action"], ball["ripens_at"][:10]))
                assert ball["can_steal"]

    @rule(thief=st.sampled_from(HANDLES), owner=st.sampled_from(HANDLES))
    def walk_then_a_friend_steals_next_morning(self, thief: str, owner: str) -> None:
        self.walk(owner, 14_800)
        self.next_morning()
        self.steal(thief, owner)

    @rule(giver=st.sampled_from(HANDLES), receiver=st.sampled_from(HANDLES), amount=st.sampled_from([10, 18, 33, 66]))
    def water(self, giver: str, receiver: str, amount: int) -> None:
        if giver == receiver:
            return
        response = self.client.post(
            f"/v1/users/{receiver}/water", json={"amount_g": amount}, headers=self.headers[giver]
        )
        assert response.status_code in (200, 409), response.text
        if response.status_code == 200:
            self.expected[giver] -= amount
            self._credit(receiver, amount)
        else:
            assert self.expected[giver] < amount or response.json()["type"].endswith(":daily-limit")

    @rule(user=st.sampled_from(HANDLES))
    def plant(self, user: str) -> None:
        headers = self.headers[user]
        self.client.post("/v1/me/trees", json={"project_id": self.project, "species_id": self.species}, headers=headers)
        growing = [
            t for t in self.client.get("/v1/me/trees", headers=headers).json()["items"] if t["status"] == "growing"
        ]
        response = self.client.post(f"/v1/me/trees/{growing[0]['id']}/plant", headers=headers)
        if self.expected[user] >= 150:
            assert response.status_code == 200, response.text
            self.expected[user] -= 150
        else:
            assert response.status_code == 409 and response.json()["type"].endswith(":short-balance")

    @rule(
        target=reports,
        user=st.sampled_from(HANDLES),
        action=st.sampled_from(["bus_ride", "metro_ride"]),
        quantity=st.integers(1, 3),
    )
    def ride(self, user: str, action: str, quantity: int) -> dict[str, Any]:
        """The partner reports rides: a green code the first time, the user's `user_ref` after."""
        now = self._now()
        if user in self.user_refs:
            who = {"user_ref": self.user_refs[user]}
        else:
            who = {"green_code": self.client.post("/v1/me/green-code", headers=self.headers[user]).json()["code"]}
        body = {
            "report_id": f"ride-{next(self.report_ids)}",
            **who,
            "occurred_at": now.isoformat(),
            "items": [{"action": action, "quantity": quantity}],
        }
        response = self._signed_post("/v1/partner/reports", body)
        assert response.status_code == 201, response.text
        self.user_refs[user] = response.json()["user_ref"]
        ball = (user, action, (now + timedelta(days=1)).date().isoformat())  # ripens 07:00 UTC tomorrow
        return {"id": body["report_id"], "user": user, "total_g": response.json()["total_g"], "at": now, "ball": ball}

    @rule(report=reports)
    def void(self, report: dict[str, Any]) -> None:
        """Take a report back: from its ball, what expired, the balance, then as debt (SPEC 7.2)."""
        age = self._now() - report["at"]
        response = self._signed_post(f"/v1/partner/reports/{report['id']}/void", {"reason": "refunded"})
        if report["id"] in self.voids:
            assert response.status_code == 200 and response.json() == self.voids[report["id"]], response.text
            void_counts["repeated"] += 1
            return
        if abs(age - VOID_WINDOW) < timedelta(minutes=1):
            assert response.status_code in (200, 409), response.text  # too close to the edge to call
            if response.status_code == 409:
                return
        elif age > VOID_WINDOW:
            assert response.status_code == 409 and response.json()["type"].endswith(":void-window-closed")
            void_counts["too late"] += 1
            return
        assert response.status_code == 200, response.text
        body = self.voids[report["id"]] = response.json()
        if report["ball"] in self.robbed:  # stolen grams are charged to the ball's reports in proportion
            assert report["total_g"] * 7 // 10 <= body["voided_g"] <= report["total_g"], (report, body)
        else:
            assert body["voided_g"] == report["total_g"], (report, body)
        user, rest = report["user"], body["voided_g"] - body["from_ball_g"] - body["from_expired_g"]
        assert body["from_balance_g"] == min(rest, self.expected[user]), (body, self.expected)
        assert body["owed_g"] == rest - body["from_balance_g"] >= 0, body
        self.expected[user] -= body["from_balance_g"]
        self.owed[user] += body["owed_g"]
        void_counts["voids"] += 1
        for part in ("from_ball_g", "from_expired_g", "from_balance_g", "owed_g"):
            void_counts[part.removesuffix("_g")] += body[part] > 0

    @rule(user=st.sampled_from(HANDLES))
    def ride_spent_then_voided(self, user: str) -> None:
        """Rides collected and spent on trees before the partner voids them: the shortfall is debt."""
        report = self.ride(user, "bus_ride", 3)
        self.next_morning()
        self.collect(user)
        while self.expected[user] >= 150:
            self.plant(user)
        self.void(report)

    @rule()
    def expire(self) -> None:
        assert self.client.post("/v1/admin/jobs/expire-balls/run", headers=self.operator).status_code == 200

    @invariant()
    def ledger_holds_and_balances_match(self) -> None:
        audit = self.client.get("/v1/admin/ledger/audit", headers=self.operator).json()
        assert audit["ok"], audit
        assert audit["owed_g"] == sum(self.owed.values()), (audit, self.owed)
        for handle in HANDLES:
            forest = self.client.get("/v1/me/forest", headers=self.headers[handle]).json()
            assert forest["balance_g"] == self.expected[handle], (handle, forest["balance_g"], self.expected)
            assert forest["owed_g"] == self.owed[handle], (handle, forest["owed_g"], self.owed)
            assert min(forest["balance_g"], forest["owed_g"]) == 0, forest  # never both a balance and a debt
            for ball in forest["balls"]:
                assert ball["remaining_g"] + ball["stolen_g"] <= ball["amount_g"]
                assert ball["stolen_g"] <= ball["amount_g"] * 3 // 10


def test_energy_rules_hold_under_random_play(databases: Any, settings: Settings) -> None:
    void_counts.clear()
    run_state_machine_as_test(
        lambda: EnergyMachine(databases, settings),
        settings=settings_for_machine,
    )
    print(f"\nvoids: {dict(sorted(void_counts.items()))}")
    assert void_counts["owed"] > 0 and void_counts["from_balance"] > 0, void_counts


settings_for_machine = settings(
    max_examples=10,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
