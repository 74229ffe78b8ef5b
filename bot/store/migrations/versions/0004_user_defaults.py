"""User defaults for /settings: typed columns on user_settings.

Existing rows (results_by_dm) are kept: every new column is nullable, NULL meaning "the bot's
default", so no row needs rewriting. Batch mode makes the
ALTERs work on SQLite; on PostgreSQL they are plain ADD/DROP COLUMN.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 09:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_COLUMNS = (
    "seed_image",
    "blend_clips",
    "remix_strength",
    "guidance",
    "steps",
    "negative_prompt",
    "private_status",
)


def upgrade() -> None:
    with op.batch_alter_table("user_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("private_status", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("negative_prompt", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("steps", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("guidance", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("remix_strength", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("blend_clips", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("seed_image", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_settings", schema=None) as batch_op:
        for name in NEW_COLUMNS:
            batch_op.drop_column(name)
