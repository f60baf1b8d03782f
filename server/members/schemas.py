"""Request and response shapes of the members API (SPEC 12.4: `/v1/admin/{ngos,partners}/{id}/members`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from sqlmodel import SQLModel

from server.members.models import MemberRole, MemberStatus
from server.users.schemas import EmailAddress
from server.validation import RequestModel


class MemberInvite(RequestModel):
    email: EmailAddress
    # Described by MemberRole's own docstring: a field description on an enum would rewrite the
    # shared component's, differently each time the document is built.
    role: MemberRole


class MemberPublic(SQLModel):
    id: str
    email: str
    name: str | None = Field(default=None, description="Chosen by the member on joining")
    role: MemberRole
    status: MemberStatus
    invited_at: datetime
    joined_at: datetime | None = None
    invitation_expires_at: datetime | None = Field(
        default=None, description="While `invited`: when the link stops working (it may have already)"
    )
    totp: bool = Field(default=False, description="The member signs in with a second factor (TOTP)")


class MemberInvited(MemberPublic):
    invitation_url: str = Field(description="`<CANOPY_PUBLIC_BASE_URL>/invite?token=`: shown this once, and mailed")
