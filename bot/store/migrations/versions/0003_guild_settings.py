"""Server administration: guild_settings (/admin) and user_settings (results by DM).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 07:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "guild_settings",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("allowed_channels", sa.JSON(), nullable=False),
        sa.Column("max_queued_per_user", sa.Integer(), nullable=True),
        sa.Column("max_jobs_per_day", sa.Integer(), nullable=True),
        sa.Column("max_duration_s", sa.Float(), nullable=True),
        sa.Column("max_clips", sa.Integer(), nullable=True),
        sa.Column("max_steps", sa.Integer(), nullable=True),
        sa.Column("blocked_words", sa.JSON(), nullable=False),
        sa.Column("blocked_patterns", sa.JSON(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("paused_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_guild_settings")),
    )
    op.create_table(
        "user_settings",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("results_by_dm", sa.Boolean(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_settings")),
    )


def downgrade() -> None:
    op.drop_table("user_settings")
    op.drop_table("guild_settings")
