"""The TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s steps, what every authenticator app
reads from the QR code), SPEC 12.3.

The secret is stored encrypted (server.crypto.SecretBox). A code is accepted for the step before,
the step of, and the step after the wall-clock time (a phone's clock a little off still works),
and only once: the step of the last accepted code is kept on the member, and a code is taken by a
guarded UPDATE that moves it forward, so the same code, or an older one, is refused afterwards
however many requests race with it. Wrong codes count like failed logins (server/throttle.py).
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime

import pyotp
import qrcode
from qrcode.image.svg import SvgPathImage
from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.crypto import SecretBox
from server.db import rowcount
from server.members.models import Member
from server.settings import Settings
from server.throttle import Throttle

ISSUER = "Canopy"
CODE = re.compile(r"[0-9]{6}")
SECRET = re.compile(r"[A-Z2-7]{32}")


def new_secret() -> str:
    """160 random bits in base32, as RFC 4226 recommends."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str) -> str:
    """The `otpauth://` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as an inline SVG (no image request, nothing for the CSP to allow)."""
    image = qrcode.make(uri, image_factory=SvgPathImage, border=4)
    svg: str = image.to_string(encoding="unicode")
    # Drawn at the size the stylesheet gives it; the dark modules on a white square.
    return svg.replace('width="', 'data-width="', 1).replace('height="', 'data-height="', 1)


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code `code` is, within one step of `now`; None when it is none of them."""
    code = code.strip().replace(" ", "")
    if not CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def _take_step(session: AsyncSession, member_id: str, step: int, values: dict[str, object]) -> bool:
    """Record `step` as used (with `values`), unless it, or a later one, was used already."""
    result = await session.execute(
        update(Member)
        .where(
            col(Member.id) == member_id,
            col(Member.removed_at).is_(None),
            or_(col(Member.totp_last_step).is_(None), col(Member.totp_last_step) < step),
        )
        .values({"totp_last_step": step, **values})
    )
    return rowcount(result) == 1


async def use_code(
    session: AsyncSession,
    settings: Settings,
    throttle: Throttle,
    member: Member,
    code: str,
    *,
    address: str,
    now: datetime,
    pending_secret: str | None = None,
    values: dict[str, object] | None = None,
) -> bool:
    """Whether `code` is a right, unused code of the member's secret (or of `pending_secret`, the
    one being turned on), taking it if so, with `values` written in the same UPDATE.

    Counted like a login before anything is checked (429 over the limit) and given back when
    right (a right code replayed is refused, uncounted: it guesses nothing). Call it before the
    request's session writes anything: on SQLite the count needs the write lock in a
    transaction of its own.
    """
    reservation = await throttle.reserve_login(f"member-code:{member.id}", address)
    secret = pending_secret or (SecretBox(settings).decrypt(member.totp_secret) if member.totp_secret else None)
    step = matching_step(secret, code, now) if secret else None
    if step is None:
        return False
    await throttle.give_back(reservation)  # before the request's session writes (the lock)
    return await _take_step(session, member.id, step, values or {})


async def turn_on(
    session: AsyncSession,
    settings: Settings,
    throttle: Throttle,
    member: Member,
    secret: str,
    code: str,
    *,
    address: str,
    now: datetime,
) -> bool:
    """Store `secret` (encrypted) once a code of it proves the member's app has it."""
    if member.totp_secret is not None or not SECRET.fullmatch(secret):
        return False
    values: dict[str, object] = {"totp_secret": SecretBox(settings).encrypt(secret)}
    return await use_code(
        session, settings, throttle, member, code, address=address, now=now, pending_secret=secret, values=values
    )


async def turn_off(
    session: AsyncSession,
    settings: Settings,
    throttle: Throttle,
    member: Member,
    code: str,
    *,
    address: str,
    now: datetime,
) -> bool:
    """Forget the secret, on a right code of it."""
    if member.totp_secret is None:
        return False
    values: dict[str, object] = {"totp_secret": None, "totp_last_step": None}
    return await use_code(session, settings, throttle, member, code, address=address, now=now, values=values)
