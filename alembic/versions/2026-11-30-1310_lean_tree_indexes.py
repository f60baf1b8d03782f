"""lean tree indexes: the queue index partial, no index on ordered_at

Revision ID: 0007_lean_tree_indexes
Revises: 0006_partners
Create Date: 2026-11-30 13:10:00+00:00

The batching job claims queued trees by the hundred thousand, and every index of `trees` a
claimed row is in costs a write per tree. The queue index becomes partial (queued trees only)
and the (project_id, ordered_at) index goes: a project's used capacity is now summed over its
orders' `tree_count` (indexed by project_id, issued_at), as the job already did.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_lean_tree_indexes"
down_revision: str | None = "0006_partners"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED = sa.text("status = 'queued'")


def upgrade() -> None:
    op.drop_index("ix_trees_project_ordered_at", table_name="trees")
    op.drop_index("ix_trees_project_status_queued", table_name="trees")
    op.create_index(
        "ix_trees_queued", "trees", ["project_id", "queued_at"], sqlite_where=QUEUED, postgresql_where=QUEUED
    )


def downgrade() -> None:
    op.drop_index("ix_trees_queued", table_name="trees")
    op.create_index("ix_trees_project_status_queued", "trees", ["project_id", "status", "queued_at"])
    op.create_index("ix_trees_project_ordered_at", "trees", ["project_id", "ordered_at"])
