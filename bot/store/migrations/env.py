"""Alembic environment, configured from code by bot.store.db (no alembic.ini).

bot.store.db hands over an open connection in `config.attributes["connection"]`; SQLite gets batch
mode so ALTERs work there too.
"""

from alembic import context
from sqlalchemy import Connection

from bot.store import server_models  # noqa: F401  (its tables share Base.metadata)
from bot.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("Run migrations through bot.db (python -m bot.db upgrade).")
    run_with(connection)
