"""Request and response shapes of the members API (SPEC 12.4: `/v1/admin/{ngos,partners}/{id}/members`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from sqlmodel import SQLModel

from server.members.models import MemberRole, MemberStatus
from server.openapi import examples
from server.users.schemas import EmailAddress
from server.validation import RequestModel

# OpenAPI examples: realistic values, valid against the schemas (tests/ops/test_openapi_docs.py).
MEMBER_EXAMPLE = {
    "id": "0193d0a1-6b2c-7d3e-8f4a-5b6c7d8e9f0a",
    "email": "li.wei@greensands.example.org",
    "name": None,
    "role": "staff",
    "status": "invited",
    "invited_at": "2026-03-14T07:00:00Z",
    "joined_at": None,
    "invitation_expires_at": "2026-03-21T07:00:00Z",
    "totp": False,
}


class MemberInvite(RequestModel):
    model_config = examples({"email": MEMBER_EXAMPLE["email"], "role": "staff"})

    email: EmailAddress
    # Described by MemberRole's own docstring: a field description on an enum would rewrite the
    # shared component's, differently each time the document is built.
    role: MemberRole


class MemberPublic(SQLModel):
    model_config = examples(MEMBER_EXAMPLE)

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
    model_config = examples(
        {
            **MEMBER_EXAMPLE,
            "invitation_url": "https://canopy.example.org/invite?token=w0_twrEKTgSf0JSNNlx2xb6xbYAdPMpTVjumYPuhOM0",
        }
    )

    invitation_url: str = Field(description="`<CANOPY_PUBLIC_BASE_URL>/invite?token=`: shown this once, and mailed")
