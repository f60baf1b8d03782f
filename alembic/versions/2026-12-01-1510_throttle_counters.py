"""throttle counters: failed-credential windows shared by every worker and replica

Revision ID: 0009_throttle_counters
Revises: 0008_prune_indexes
Create Date: 2026-12-01 15:10:00+00:00

Login and bearer-credential throttling counted in each worker's memory, so every worker (and
replica) granted its own allowance. Without Redis the counters now live here, one row per key
and window, raised by one upsert that returns the new count.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_throttle_counters"
down_revision: str | None = "0008_prune_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "throttle_counters",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("window_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_throttle_counters")),
    )
    op.create_index(op.f("ix_throttle_counters_window_ends_at"), "throttle_counters", ["window_ends_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_throttle_counters_window_ends_at"), table_name="throttle_counters")
    op.drop_table("throttle_counters")
