"""Shared steps of the account tests."""

from __future__ import annotations

from tests.accounts.conftest import Mailbox, link_token, send_mail
from tests.api import Api, User

PASSWORD = "correct horse battery"


async def verified_user(api: Api, mailbox: Mailbox, handle: str, email: str, **fields: object) -> User:
    user = await api.register(handle, email=email, **fields)
    await send_mail(api)
    token = link_token(mailbox.to(email)[-1], "verify-email")
    assert (await api.client.post("/v1/auth/verify-email", json={"token": token})).status_code == 204
    return user


async def login(api: Api, handle: str, password: str = PASSWORD, user_agent: str = "test") -> dict:
    response = await api.client.post(
        "/v1/auth/login", json={"handle": handle, "password": password}, headers={"User-Agent": user_agent}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def works(api: Api, access_token: str) -> bool:
    response = await api.client.get("/v1/me", headers={"Authorization": f"Bearer {access_token}"})
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


async def refreshes(api: Api, refresh_token: str) -> bool:
    response = await api.client.post("/v1/auth/refresh", json={"refresh_token": refresh_token})
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200
