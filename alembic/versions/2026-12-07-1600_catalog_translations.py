"""catalog translations: action and species names in more languages than English (SPEC 12.1)

One JSON object per row, {language: name}, English (the `name` / `common_name` column) not among
them; a new language is new keys, not a new column or table (docs/decisions.md).

Revision ID: 0011_catalog_translations
Revises: 0010_user_language
Create Date: 2026-12-07 16:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_catalog_translations"
down_revision: str | None = "0010_user_language"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("action_types") as batch:
        batch.add_column(sa.Column("names", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("species") as batch:
        batch.add_column(sa.Column("common_names", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    # Not in batch mode: on SQLite that rebuilds the table, which its foreign keys refuse
    # (SQLite 3.35+ drops a column in place).
    op.drop_column("species", "common_names")
    op.drop_column("action_types", "names")
