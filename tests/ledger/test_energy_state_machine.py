"""A Hypothesis state machine over the energy rules, through the HTTP API.

Three friends walk, collect, steal, water, plant cheap trees and run the expire job while the test
clock moves. After every step the ledger audit must hold and every balance must equal what the
responses the users received add up to (credits they were told about minus what they spent).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from litestar.testing import TestClient

from server.app import create_app
from server.settings import Settings

HANDLES = ("alice", "bob", "carol")
PASSWORD = "correct horse battery"


class EnergyMachine(RuleBasedStateMachine):
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
        self.expected = dict.fromkeys(HANDLES, 0)
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

    def _today(self) -> str:
        return self.client.get("/v1/admin/clock", headers=self.operator).json()["now"][:10]

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
        now = datetime.fromisoformat(self.client.get("/v1/admin/clock", headers=self.operator).json()["now"])
        morning = now.replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=1)
        self._advance(int((morning - now).total_seconds()))

    @rule(user=st.sampled_from(HANDLES))
    def collect(self, user: str) -> None:
        response = self.client.post("/v1/me/balls/collect", headers=self.headers[user])
        assert response.status_code == 200, response.text
        self.expected[user] += response.json()["collected_g"]

    @rule(thief=st.sampled_from(HANDLES), owner=st.sampled_from(HANDLES))
    def steal(self, thief: str, owner: str) -> None:
        if thief == owner:
            return
        forest = self.client.get(f"/v1/users/{owner}/forest", headers=self.headers[thief]).json()
        for ball in forest["balls"]:
            response = self.client.post(f"/v1/users/{owner}/balls/{ball['id']}/steal", headers=self.headers[thief])
            assert response.status_code in (200, 409), response.text
            if response.status_code == 200:
                self.expected[thief] += response.json()["stolen_g"]
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
            self.expected[receiver] += amount
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

    @rule()
    def expire(self) -> None:
        assert self.client.post("/v1/admin/jobs/expire-balls/run", headers=self.operator).status_code == 200

    @invariant()
    def ledger_holds_and_balances_match(self) -> None:
        audit = self.client.get("/v1/admin/ledger/audit", headers=self.operator).json()
        assert audit["ok"], audit
        for handle in HANDLES:
            forest = self.client.get("/v1/me/forest", headers=self.headers[handle]).json()
            assert forest["balance_g"] == self.expected[handle], (handle, forest["balance_g"], self.expected)
            assert forest["owed_g"] == 0
            for ball in forest["balls"]:
                assert ball["remaining_g"] + ball["stolen_g"] <= ball["amount_g"]
                assert ball["stolen_g"] <= ball["amount_g"] * 3 // 10


def test_energy_rules_hold_under_random_play(databases: Any, settings: Settings) -> None:
    run_state_machine_as_test(
        lambda: EnergyMachine(databases, settings),
        settings=settings_for_machine,
    )


settings_for_machine = settings(
    max_examples=10,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
