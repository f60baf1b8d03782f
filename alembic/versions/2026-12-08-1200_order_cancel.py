"""order cancellation and job runs: an operator cancels an open order with a reason (SPEC 12.4);
each job's last run is kept for the console's health page

Revision ID: 0020_order_cancel
Revises: 0017_member_invitations
Create Date: 2026-12-08 12:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_order_cancel"
down_revision: str | None = "0017_member_invitations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("planting_orders", sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("planting_orders", sa.Column("cancel_reason", sa.String(length=500), nullable=True))
    op.create_table(
        "job_runs",
        sa.Column("name", sa.String(length=40), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False, server_default="{}"),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("job_runs")
    # Not in batch mode: on SQLite that rebuilds the table, which its foreign keys refuse.
    op.drop_column("planting_orders", "cancel_reason")
    op.drop_column("planting_orders", "cancelled_at")
