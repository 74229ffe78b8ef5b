"""Resumable jobs: what rebuilds a queued job's work after a restart, and its attempts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00

`task` holds the kind-specific part of a job (blend ends, the Variation/Extend source files,
the remix input saved under DATA_DIR/jobs/<job id>.wav, the upload limit, the extra fields of
the result); `attempts` counts starts, so a job a crash interrupted twice is not run a third
time. Rows written before this revision get an empty task and 0 attempts: plain riffs and
rerolls resume from `params`, Variation and Extend from their parent generation.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("task", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("attempts")
        batch_op.drop_column("task")
