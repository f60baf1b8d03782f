"""ngo portal: remember an uploaded photo's file name and the order it was uploaded for (SPEC 12.4)

A planting CSV names its photo by id or by the file name of a photo uploaded for the order; both
columns are empty for photos sent through the API.

Revision ID: 0018_ngo_portal_photo_names
Revises: 0020_order_cancel
Create Date: 2026-12-08 12:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_ngo_portal_photo_names"
down_revision: str | None = "0020_order_cancel"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("photos", sa.Column("order_id", sa.String(length=36), nullable=True))
    op.add_column("photos", sa.Column("file_name", sa.String(length=255), nullable=True))
    op.create_index("ix_photos_order_id", "photos", ["order_id"], unique=False)


def downgrade() -> None:
    # Not in batch mode: on SQLite that rebuilds the table, which its foreign keys refuse.
    op.drop_index("ix_photos_order_id", table_name="photos")
    op.drop_column("photos", "file_name")
    op.drop_column("photos", "order_id")
