"""GET /healthz: is the bot fine? The same facts /about shows under Problems (bot/jobs/health.py),
plus the gateway and the model (or, with the postgres queue, the workers seen lately)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import text

from bot.engine.job_queue import JobQueue
from bot.jobs.health import Health
from bot.store.db import Database

LOOP_LAG_LIMIT_S = 1.0  # the event loop answered a wake-up this late: it is stuck


@dataclass
class HealthRoutes:
    """/healthz for load balancers and uptime checks: 200 when all is well, else 503 naming
    what is not (JSON either way)."""

    db: Database
    health: Health
    queue: JobQueue
    gateway_ready: Callable[[], bool]
    model_ready: Callable[[], bool]

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/healthz", self.healthz)]

    async def checks(self) -> dict[str, str | None]:
        """Each part: None when fine, else what is wrong (a line for operators)."""
        found: dict[str, str | None] = {}
        began = time.monotonic()
        await asyncio.sleep(0)
        lag = time.monotonic() - began
        found["event_loop"] = f"it answers {lag:.1f} s late" if lag > LOOP_LAG_LIMIT_S else None
        try:
            async with self.db.session() as session:
                await asyncio.wait_for(session.execute(text("SELECT 1")), timeout=5)
            found["database"] = None
        except Exception as exc:  # any failure to answer is the finding
            found["database"] = f"does not answer ({exc.__class__.__name__})"
        found["gateway"] = None if self.gateway_ready() else "not connected to Discord"
        if self.queue.renders_here:
            found["model"] = None if self.model_ready() else "not loaded"
        else:
            workers = self.queue.workers_seen()
            found["workers"] = None if workers else "no GPU worker seen in the last minute"
        for kind, problem in self.health.by_kind.items():
            if found.get(kind) is None:
                found[kind] = problem.what
        return found

    async def healthz(self, request: web.Request) -> web.Response:
        found = await self.checks()
        problems = {name: what for name, what in found.items() if what}
        body = {"ok": not problems, "checks": {n: w or "ok" for n, w in found.items()}}
        return web.json_response(body, status=503 if problems else 200)
