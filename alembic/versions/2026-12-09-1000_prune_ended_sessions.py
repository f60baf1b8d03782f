"""prune ended sessions: index refresh tokens by their revocation time (SPEC 14)

The daily `prune` job deletes a refresh token once it has expired or been revoked for
CANOPY_ENDED_SESSION_RETENTION_DAYS; with both times indexed each chunk of the job finds its rows
without scanning the table. (Portal sessions live seven days at most: their table stays small.)

Revision ID: 0022_prune_ended_sessions
Revises: 0018_ngo_portal_photo_names
Create Date: 2026-12-09 10:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022_prune_ended_sessions"
down_revision: str | None = "0018_ngo_portal_photo_names"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_refresh_tokens_revoked_at", "refresh_tokens", ["revoked_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_refresh_tokens_revoked_at", table_name="refresh_tokens")
