"""Throttling of failed credentials and of mail (SPEC 2, 10, 11.1).

Failed logins are counted per handle and per client address; failed bearer credentials (the
operator token, NGO keys) per client address; requests that mail someone (verification, reset)
per recipient and per client address. The counting is server/counters.py's, in the store every
worker and replica sees (Redis, else the database); the client address is
server/dependencies.py's `client_address`.
"""

from __future__ import annotations

import hashlib

from server.counters import CounterStore, Window
from server.settings import Settings


class Throttle:
    """The limits of SPEC 2 (logins) and of bearer credentials, over one counter store."""

    def __init__(self, counters: CounterStore, settings: Settings) -> None:
        self.counters = counters
        self.settings = settings

    async def reserve_login(self, handle: str, address: str) -> tuple[Window, Window]:
        """Count this attempt before the password is checked, refusing it (429) over a limit.

        Counting first is what holds under parallel requests. The caller gives the reservation
        back when the password is right, so in the end only failures count. The address is
        counted first, so an address over its limit adds no rows for the handles it tries; a
        refusal for the handle is given back to the address.
        """
        settings = self.settings
        by_address = await self.counters.hit(f"login-address:{address}", settings.login_fail_window_s)
        if by_address.count > settings.login_fail_limit_per_address:
            raise by_address.refusal(
                problem="login-throttled", detail="Too many failed logins from this address; try again later."
            )
        by_handle = await self.counters.hit(f"login-handle:{handle}", settings.login_fail_window_s)
        if by_handle.count > settings.login_fail_limit_per_handle:
            await self.counters.give_back(by_address)
            raise by_handle.refusal(
                problem="login-throttled", detail="Too many failed logins for this handle; try again later."
            )
        return by_address, by_handle

    async def give_back(self, reservation: tuple[Window, ...]) -> None:
        await self.counters.give_back(*reservation)

    async def check_credential(self, address: str) -> None:
        """Refuse (429) any bearer credential, right or wrong, from an address over its limit of
        failures: otherwise a right guess would still stand out."""
        window = await self.counters.peek(f"credential-address:{address}")
        if window is not None and window.count >= self.settings.credential_fail_limit_per_address:
            raise window.refusal(
                problem="credential-throttled", detail="Too many failed credentials from this address."
            )

    async def credential_failed(self, address: str) -> None:
        """Count a failed bearer credential; 429 instead of 401 once over the limit."""
        window = await self.counters.hit(f"credential-address:{address}", self.settings.credential_fail_window_s)
        if window.count > self.settings.credential_fail_limit_per_address:
            raise window.refusal(
                problem="credential-throttled", detail="Too many failed credentials from this address."
            )

    async def mail_allowed(self, recipient: str, address: str) -> bool:
        """Count a request that would mail `recipient` (SPEC 11.1): 429 once the client address is
        over its limit; False once the recipient has had its mails for the window (the caller then
        sends nothing and answers the same). Recipients are counted by hash: no address is stored."""
        settings = self.settings
        by_client = await self.counters.hit(f"mail-client:{address}", settings.mail_limit_window_s)
        if by_client.count > settings.mail_limit_per_client:
            raise by_client.refusal(
                problem="mail-throttled", detail="Too many requests for mail from this address; try again later."
            )
        digest = hashlib.sha256(recipient.lower().encode()).hexdigest()
        by_recipient = await self.counters.hit(f"mail-to:{digest}", settings.mail_limit_window_s)
        return by_recipient.count <= settings.mail_limit_per_recipient
