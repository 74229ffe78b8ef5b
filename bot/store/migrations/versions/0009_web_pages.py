"""Web pages: where a result was posted (public, its page token) and /admin web per server.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00

generations.public is True when the result's message is in a server channel @everyone can
read (recorded at delivery; empty for results posted before this release, which never get a
page), and generations.web_token names its page (/r/<token>). guild_settings.web_pages is
/admin web on|off (off for every server until its admins switch it on) and
guild_settings.web_token names the server's favourites gallery (/g/<token>).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN and unique indexes, no batch copy: on SQLite (foreign keys on) copying
    # generations would drop the old table, and its ON DELETE rules would empty favourites and
    # unlink jobs from their parents.
    op.add_column("generations", sa.Column("public", sa.Boolean(), nullable=True))
    op.add_column("generations", sa.Column("web_token", sa.String(length=43), nullable=True))
    op.create_index("ix_generations_web_token", "generations", ["web_token"], unique=True)
    op.add_column(
        "guild_settings",
        sa.Column("web_pages", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("guild_settings", sa.Column("web_token", sa.String(length=43), nullable=True))
    op.create_index("ix_guild_settings_web_token", "guild_settings", ["web_token"], unique=True)


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 and later, PostgreSQL), for the same reason: no copy.
    op.drop_index("ix_guild_settings_web_token", table_name="guild_settings")
    op.drop_column("guild_settings", "web_token")
    op.drop_column("guild_settings", "web_pages")
    op.drop_index("ix_generations_web_token", table_name="generations")
    op.drop_column("generations", "web_token")
    op.drop_column("generations", "public")
