"""A LISTEN connection to PostgreSQL that keeps coming back.

Notifications only wake the listener's owner early: what they announce is in the rows, which
the owner polls anyway, so while this connection is down (a network cut, a server restart, an
administrator terminating it) work keeps moving at the polling pace and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

APPLICATION_NAME = "riffusion-listen"  # how the connection shows in pg_stat_activity


def asyncpg_dsn(url: str) -> str:
    """The SQLAlchemy URL (postgresql+asyncpg://...) as a plain libpq-style DSN.

    SQLAlchemy's asyncpg dialect takes TLS as `?ssl=require` (a connect() argument); in a DSN
    asyncpg reads it as `sslmode`, and would otherwise send `ssl` to the server as a setting."""
    parsed = make_url(url).set(drivername="postgresql")
    query = dict(parsed.query)
    if "ssl" in query and "sslmode" not in query:
        query["sslmode"] = query.pop("ssl")
    return parsed.set(query=query).render_as_string(hide_password=False)


class Listener:
    """LISTENs on `channels`, calling `on_notify(channel, payload)` on the event loop."""

    def __init__(
        self,
        url: str,
        channels: Sequence[str],
        on_notify: Callable[[str, str], None],
        *,
        retry_s: float = 2.0,
        name: str = APPLICATION_NAME,
    ) -> None:
        self._dsn = asyncpg_dsn(url)
        self._channels = tuple(channels)
        self._on_notify = on_notify
        self._retry_s = retry_s
        self._name = name
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.drops = 0  # times the connection was lost (tests, metrics)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"listen-{self._name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _notified(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        self._on_notify(channel, payload)

    async def _run(self) -> None:
        warned = False
        while True:
            lost = asyncio.Event()
            conn: Any = None
            try:
                conn = await asyncpg.connect(
                    self._dsn, server_settings={"application_name": self._name}, timeout=10
                )
                conn.add_termination_listener(functools.partial(_set, lost))
                for channel in self._channels:
                    await conn.add_listener(channel, self._notified)
                self.connected.set()
                if warned:
                    log.info("LISTEN connection to PostgreSQL is back")
                    warned = False
                # Wake the owner: something may have happened while nobody listened.
                self._on_notify("", "reconnected")
                while not lost.is_set():
                    # A connection cut without a FIN is noticed by the next query.
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(lost.wait(), timeout=max(self._retry_s, 5.0))
                    if not lost.is_set():
                        await conn.execute("SELECT 1", timeout=10)
            except asyncio.CancelledError:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                if not warned:
                    log.warning(
                        "LISTEN connection to PostgreSQL lost (%s); polling until it is back",
                        exc.__class__.__name__,
                    )
                    warned = True
            if self.connected.is_set():
                self.drops += 1
                if not warned:
                    log.warning("LISTEN connection to PostgreSQL lost; polling until it is back")
                    warned = True
            self.connected.clear()
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.terminate()
            await asyncio.sleep(self._retry_s)


def _set(event: asyncio.Event, _conn: Any) -> None:
    event.set()
