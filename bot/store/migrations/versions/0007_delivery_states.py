"""Delivery states: a job is rendered (its result saved) before it is delivered (posted).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:40:00

The states are defined once (bot/store/models.py, JobState): queued, running, rendered,
delivered, failed, cancelled. A "done" job of earlier releases had its result posted, so it
becomes "delivered". No column changes: `finished_at` is when rendering finished (delivery keeps
it), which orders the deliveries still waiting after a restart.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE jobs SET state = 'delivered' WHERE state = 'done'")


def downgrade() -> None:
    # Earlier releases know no "rendered": such a job's result was saved but not posted, and
    # they re-run a running job once, which makes and posts it again.
    op.execute("UPDATE jobs SET state = 'running' WHERE state = 'rendered'")
    op.execute("UPDATE jobs SET state = 'done' WHERE state = 'delivered'")
