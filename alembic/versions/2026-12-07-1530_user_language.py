"""user language: the language mail, notifications and pages speak to each user (SPEC 11.1)

Revision ID: 0010_user_language
Revises: 0009_throttle_counters
Create Date: 2026-12-07 15:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_user_language"
down_revision: str | None = "0009_throttle_counters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=False, server_default="en"))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
