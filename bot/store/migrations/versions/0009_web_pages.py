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
    with op.batch_alter_table("generations") as batch:
        batch.add_column(sa.Column("public", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("web_token", sa.String(length=43), nullable=True))
        batch.create_unique_constraint("uq_generations_web_token", ["web_token"])
    with op.batch_alter_table("guild_settings") as batch:
        batch.add_column(
            sa.Column("web_pages", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("web_token", sa.String(length=43), nullable=True))
        batch.create_unique_constraint("uq_guild_settings_web_token", ["web_token"])


def downgrade() -> None:
    with op.batch_alter_table("guild_settings") as batch:
        batch.drop_constraint("uq_guild_settings_web_token", type_="unique")
        batch.drop_column("web_token")
        batch.drop_column("web_pages")
    with op.batch_alter_table("generations") as batch:
        batch.drop_constraint("uq_generations_web_token", type_="unique")
        batch.drop_column("web_token")
        batch.drop_column("public")
