"""The postgres queue: claim, lease and progress columns on jobs; job_blobs; workers.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 05:00:00

With GENERATION_QUEUE=postgres the jobs table is the queue GPU workers on other machines claim
from (docs/scale-out.md). The local queue leaves these columns empty. Existing rows keep
`queue_version` empty, so no worker claims a job a local-queue bot left behind.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("queue_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("batch_key", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("cost", sa.Float(), server_default="1", nullable=False))
        batch.add_column(sa.Column("lease_owner", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("progress_step", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("progress_total", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("made", sa.JSON(), nullable=True))
    op.create_table(
        "job_blobs",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("compressed", sa.Boolean(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_blobs_job_id_jobs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "name", name="pk_job_blobs"),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("device", sa.String(length=100), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds_per_cost", sa.Float(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_workers"),
    )


def downgrade() -> None:
    op.drop_table("workers")
    op.drop_table("job_blobs")
    with op.batch_alter_table("jobs") as batch:
        for column in (
            "made",
            "cancel_requested",
            "progress_total",
            "progress_step",
            "lease_expires_at",
            "lease_owner",
            "cost",
            "batch_key",
            "queue_version",
        ):
            batch.drop_column(column)
