"""member invitations: the invitation token's hash and expiry, the TOTP replay guard, and one live
member per address (a removed member's address may be invited again) (SPEC 12.3)

Revision ID: 0017_member_invitations
Revises: 0016_public_profile
Create Date: 2026-12-08 10:00:00+00:00

On SQLite, dropping the table's UNIQUE (email) constraint rebuilds `members`; `web_sessions`
refers to it, so its rows (portal sessions, nothing else) are deleted first: migrating signs
every portal member out. PostgreSQL drops the constraint in place and keeps the sessions.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_member_invitations"
down_revision: str | None = "0016_public_profile"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("removed_at IS NULL")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DELETE FROM web_sessions")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_constraint("uq_members_email", type_="unique")
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("invitation_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("invitation_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint("uq_members_invitation_hash", ["invitation_hash"])
    op.create_index(
        "uq_members_live_email", "members", ["email"], unique=True, sqlite_where=LIVE, postgresql_where=LIVE
    )


def downgrade() -> None:
    op.drop_index("uq_members_live_email", table_name="members")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DELETE FROM web_sessions")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_constraint("uq_members_invitation_hash", type_="unique")
        batch_op.drop_column("invitation_expires_at")
        batch_op.drop_column("invitation_hash")
        batch_op.drop_column("totp_last_step")
        batch_op.create_unique_constraint("uq_members_email", ["email"])
