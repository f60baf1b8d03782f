"""prune indexes: the columns the daily `prune` job deletes by

Revision ID: 0008_prune_indexes
Revises: 0007_lean_tree_indexes
Create Date: 2026-12-01 15:00:00+00:00

`prune` deletes rows past their time in bounded chunks; each chunk finds its rows through one
of these indexes instead of scanning the table again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_prune_indexes"
down_revision: str | None = "0007_lean_tree_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_idempotency_records_created_at", "idempotency_records", "created_at"),
    ("ix_refresh_tokens_expires_at", "refresh_tokens", "expires_at"),
    ("ix_green_codes_expires_at", "green_codes", "expires_at"),
    ("ix_play_counters_local_day", "play_counters", "local_day"),
)


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _column in INDEXES:
        op.drop_index(name, table_name=table)
