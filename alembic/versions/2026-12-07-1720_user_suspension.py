"""user suspension: an operator suspends a user with a reason and unsuspends (SPEC 12.4)

Revision ID: 0014_user_suspension
Revises: 0013_accounts_email
Create Date: 2026-12-07 17:20:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_user_suspension"
down_revision: str | None = "0013_accounts_email"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("suspension_reason", sa.String(length=500), nullable=True))


def downgrade() -> None:
    # Not in batch mode: on SQLite that rebuilds the table, which its foreign keys refuse.
    op.drop_column("users", "suspension_reason")
    op.drop_column("users", "suspended_at")
