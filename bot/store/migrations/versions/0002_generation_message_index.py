"""Index generations.message_id: every reply to a bot message looks its result up by message id.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:30:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_generations_message_id"), "generations", ["message_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_generations_message_id"), table_name="generations")
