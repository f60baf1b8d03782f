"""public profile: a user may show a public page at /u/{handle} (SPEC 12.2)

Revision ID: 0016_public_profile
Revises: 0015_members
Create Date: 2026-12-08 10:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_public_profile"
down_revision: str | None = "0015_members"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("public_profile", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    # Not in batch mode: on SQLite that rebuilds the table, which its foreign keys refuse.
    op.drop_column("users", "public_profile")
