"""partner portal: refused signed requests, voided grams per action, reports by occurred_at (SPEC 12.4)

`partner_refusals` keeps the newest 100 refused signed requests of each partner. An action
record of a voided report gets `voided_g`, what the void took back of that action, so the
portal's dashboard sums energy net of voids by day and by action in SQL; reports voided before
this migration get their whole energy (the void's share of stolen grams was not kept per action).

Revision ID: 0021_partner_refused_requests
Revises: 0022_prune_ended_sessions
Create Date: 2026-12-09 10:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_partner_refused_requests"
down_revision: str | None = "0022_prune_ended_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partner_refusals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("partner_id", sa.String(length=36), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("target", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("problem", sa.String(length=100), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("signed", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"], name=op.f("fk_partner_refusals_partner_id_partners")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_refusals")),
    )
    op.create_index("ix_partner_refusals_partner_id_id", "partner_refusals", ["partner_id", "id"], unique=False)
    op.create_index(
        "ix_partner_reports_partner_id_occurred_at", "partner_reports", ["partner_id", "occurred_at"], unique=False
    )
    op.add_column("action_records", sa.Column("voided_g", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE action_records SET voided_g = energy_g WHERE report_id IN "
        "(SELECT id FROM partner_reports WHERE voided_at IS NOT NULL)"
    )


def downgrade() -> None:
    # Not in batch mode: on SQLite that rebuilds the table, which its foreign keys refuse.
    op.drop_column("action_records", "voided_g")
    op.drop_index("ix_partner_reports_partner_id_occurred_at", table_name="partner_reports")
    op.drop_index("ix_partner_refusals_partner_id_id", table_name="partner_refusals")
    op.drop_table("partner_refusals")
