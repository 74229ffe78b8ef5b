"""User defaults for Riffusion-style blends: /blend's own seed image, and the denoising strength.

/blend now starts from a seed image by default (Riffusion's interpolation), so it gets a seed
image default of its own besides /riff's (which stays text to audio by default). Both new
columns are nullable, NULL meaning "the bot's default", so no row needs rewriting; a stored
"none" in blend_seed_image means text to audio. Generations need no change: their seed_image and
denoising columns already exist, and blends written before this release (seed_image NULL) were
rendered from text alone, which is what NULL still means.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 09:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_COLUMNS = ("denoising", "blend_seed_image")


def upgrade() -> None:
    with op.batch_alter_table("user_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("blend_seed_image", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("denoising", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_settings", schema=None) as batch_op:
        for name in NEW_COLUMNS:
            batch_op.drop_column(name)
