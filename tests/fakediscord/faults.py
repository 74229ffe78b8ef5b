"""``fake.faults``: the test-facing switch for making the fake fail the way Discord does.

Everything is off until a test asks. REST failures are chosen per request, in this order: faults
queued with ``fail_next``, then a running ``outage``, then the seeded ``random`` mode. Gateway
failures (socket closes, opcodes 7 and 9) are applied on demand or by the random mode. Every
failure injected is counted by kind in ``counts`` and logged in ``log``, so a soak can print them.

Route patterns are ``"METHOD /path"`` with the path as the bot calls it without ``/api/v10``; a
segment ``*`` or ``{name}`` matches any one segment, a final ``**`` any rest. The method may be
``*`` or left out; ``"*"`` alone is every route. Example: ``"POST /channels/*/messages"``.
"""

from __future__ import annotations

import asyncio
import random as random_module
import time
from collections import Counter
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .failures import RestFault, parse_kind

if TYPE_CHECKING:
    from .gateway import Gateway

API_PREFIX = "/api/v10"
#: Gateway kinds: socket closed with 4000 (resumable) or 4009 (session timed out, not
#: resumable), dropped without a close frame (the client sees 1006), op 7, op 9 (not resumable).
GATEWAY_KINDS = ("close_4000", "close_1006", "close_4009", "op7", "op9")
#: What ``random`` picks from by default: the transient ones (a later try succeeds). Permanent
#: answers (``"404_10003"``, ``"403_50013"``...) and ``"outage"`` are opt-in through ``kinds``.
DEFAULT_RANDOM_KINDS = (
    "429",
    "429_global",
    "500",
    "502",
    "502_landed",
    "503",
    "504",
    *GATEWAY_KINDS,
)
Routes = str | Iterable[str]


@dataclass(frozen=True)
class RoutePattern:
    """``"POST /channels/*/messages"``: a method (or ``*``) and path segments (``None``: all)."""

    method: str
    segments: tuple[str, ...] | None

    @classmethod
    def parse(cls, text: str) -> RoutePattern:
        text = text.strip()
        if text in ("", "*"):
            return cls("*", None)
        method, _, path = text.rpartition(" ")
        method = method.strip().upper() or "*"
        if path == "*":
            return cls(method, None)
        path = path.removeprefix(API_PREFIX)
        if not path.startswith("/"):
            raise ValueError(f"route pattern {text!r}: the path must start with /")
        return cls(method, tuple(path.strip("/").split("/")))

    @property
    def text(self) -> str:
        path = "*" if self.segments is None else "/" + "/".join(self.segments)
        return path if self.method == "*" else f"{self.method} {path}"

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method.upper()):
            return False
        if self.segments is None:
            return True
        parts = path.strip("/").split("/")
        pattern = self.segments
        if pattern and pattern[-1] == "**":
            pattern = pattern[:-1]
            if len(parts) < len(pattern):
                return False
            parts = parts[: len(pattern)]
        if len(parts) != len(pattern):
            return False
        return all(
            want == "*" or (want.startswith("{") and want.endswith("}")) or want == got
            for want, got in zip(pattern, parts, strict=True)
        )


def parse_routes(routes: Routes) -> tuple[RoutePattern, ...]:
    texts = [routes] if isinstance(routes, str) else list(routes)
    return tuple(RoutePattern.parse(t) for t in texts)


def _matches(patterns: Sequence[RoutePattern], method: str, path: str) -> bool:
    return any(p.matches(method, path) for p in patterns)


@dataclass
class Outage:
    """REST calls on ``routes`` fail with ``fault`` for ``seconds`` of real (monotonic) time.

    Real time because discord.py's retry pauses are real ``asyncio.sleep`` calls.
    """

    fault: RestFault
    routes: tuple[RoutePattern, ...]
    seconds: float
    started: float = field(default_factory=time.monotonic)
    #: Requests this outage failed.
    failed: int = 0
    ended_at: float | None = None

    @property
    def ends(self) -> float:
        return self.started + self.seconds

    @property
    def active(self) -> bool:
        return self.ended_at is None and time.monotonic() < self.ends

    @property
    def lasted(self) -> float:
        """Seconds it has been (or was) failing calls so far."""
        end = self.ended_at if self.ended_at is not None else min(time.monotonic(), self.ends)
        return end - self.started

    def end(self) -> None:
        """Ends the outage now (say, once a test has seen what it wanted)."""
        if self.ended_at is None:
            self.ended_at = min(time.monotonic(), self.ends)


@dataclass(frozen=True)
class InjectedFault:
    """One fault the fake injected: when (monotonic), its kind and the call it hit."""

    at: float
    kind: str
    method: str = ""
    path: str = ""


@dataclass
class _Queued:
    routes: tuple[RoutePattern, ...]
    fault: RestFault
    remaining: int


@dataclass
class _RandomMode:
    rng: random_module.Random
    rate: float
    kinds: tuple[str, ...]
    routes: tuple[RoutePattern, ...]
    retry_after: float
    outage_seconds: float
    outage_status: int


class Faults:
    """Injects Discord's failures into the fake (``fake.faults``); all off by default."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        #: Faults injected so far, by kind ("429", "502_landed", "404_10003", "close_4000"...);
        #: "outage" counts outages started, and each call one fails counts under its status too.
        self.counts: Counter[str] = Counter()
        #: Every fault injected, in order.
        self.log: list[InjectedFault] = []
        #: Every outage started (ended or not), for figures such as the longest one.
        self.outages: list[Outage] = []
        self._queue: list[_Queued] = []
        self._random: _RandomMode | None = None
        self._tasks: set[asyncio.Task[int]] = set()

    # -- REST faults --

    def fail_next(
        self,
        route: Routes = "*",
        status: int = 502,
        *,
        n: int = 1,
        code: int | None = None,
        lands: bool = False,
        retry_after: float = 0.5,
        scope: str = "user",
        via: bool = True,
    ) -> RestFault:
        """The next ``n`` calls on ``route`` answer ``status`` (queued faults go first).

        429: rate limited for ``retry_after`` seconds with ``scope`` "user" (the route's
        bucket), "global" or "shared"; ``via=False`` is Cloudflare's ban page, which discord.py
        does not wait out. 4xx: Discord's JSON error ``code`` (401 -> 50027, 403 -> 50013,
        404 -> 10003 when left out). 5xx: ``lands=True`` carries the call out before answering.
        """
        fault = RestFault(
            status, code=code, lands=lands, retry_after=retry_after, scope=scope, via=via
        )
        if n > 0:
            self._queue.append(_Queued(parse_routes(route), fault, n))
        return fault

    def outage(
        self, seconds: float, *, status: int = 502, routes: Routes = "*", lands: bool = False
    ) -> Outage:
        """From now on, for ``seconds`` of real time, calls on ``routes`` answer ``status``.

        discord.py retries 500/502/504 five times over about 25 s (pauses 1, 3, 5, 7, 9 s) and
        then raises DiscordServerError; a 503 it raises at once. ``lands=True`` makes writes
        happen although they answer ``status``.
        """
        return self._start_outage(RestFault(status, lands=lands), parse_routes(routes), seconds)

    def random(
        self,
        rate: float,
        *,
        seed: int,
        kinds: Sequence[str] = DEFAULT_RANDOM_KINDS,
        routes: Routes = "*",
        retry_after: float = 0.3,
        outage_seconds: float = 30.0,
        outage_status: int = 502,
    ) -> None:
        """Each call on ``routes`` fails with probability ``rate``, its kind drawn from ``kinds``.

        Seeded, so a failing soak can be replayed. A gateway kind (``GATEWAY_KINDS``) is applied
        to the gateway and lets the call through; ``"outage"`` starts an ``outage`` of
        ``outage_seconds`` on ``routes`` (the call that drew it fails first). 429s ask for
        ``retry_after`` seconds.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate is a probability")
        for kind in kinds:
            if kind not in GATEWAY_KINDS and kind != "outage":
                parse_kind(kind)  # fail now on a typo, not in the middle of a soak
        self._random = _RandomMode(
            random_module.Random(seed),
            rate,
            tuple(kinds),
            parse_routes(routes),
            retry_after,
            outage_seconds,
            outage_status,
        )

    def stop_random(self) -> None:
        self._random = None

    def clear(self) -> None:
        """Drops queued faults, ends outages and stops the random mode (counts are kept)."""
        self._queue.clear()
        for outage in self.outages:
            outage.end()
        self._random = None

    def pick(self, method: str, path: str) -> RestFault | None:
        """The fault for this call, if any (called by the REST layer; ``path`` sans /api/v10)."""
        fault = self._pick(method, path)
        if fault is not None:
            self._count(fault.kind, method, path)
        return fault

    def _pick(self, method: str, path: str) -> RestFault | None:
        for queued in self._queue:
            if _matches(queued.routes, method, path):
                queued.remaining -= 1
                if queued.remaining <= 0:
                    self._queue.remove(queued)
                return queued.fault
        for outage in self.outages:
            if outage.active and _matches(outage.routes, method, path):
                outage.failed += 1
                return outage.fault
        mode = self._random
        if mode is None or not _matches(mode.routes, method, path):
            return None
        if mode.rng.random() >= mode.rate:
            return None
        kind = mode.rng.choice(mode.kinds)
        if kind in GATEWAY_KINDS:
            self._spawn(self.gateway_fault(kind))
            return None
        if kind == "outage":
            fault = RestFault(mode.outage_status)
            self._start_outage(fault, mode.routes, mode.outage_seconds).failed += 1
            return fault
        return parse_kind(kind, retry_after=mode.retry_after)

    def _start_outage(
        self, fault: RestFault, routes: tuple[RoutePattern, ...], seconds: float
    ) -> Outage:
        outage = Outage(fault, routes, seconds)
        self.outages.append(outage)
        self._count("outage", path=" ".join(p.text for p in routes))
        return outage

    # -- gateway faults --

    async def close_gateway(self, code: int = 4000, *, resumable: bool | None = None) -> int:
        """Closes every connected bot's socket with ``code``; returns how many.

        4000 (unknown error) keeps the session, so discord.py RESUMEs; 4007 and 4009 (session
        timed out) end it: discord.py still tries to RESUME, gets op 9 and IDENTIFYs. Pass
        ``resumable`` to override. discord.py gives up (raises ConnectionClosed) only on 1000,
        4004 and 4010-4014.
        """
        if resumable is None:
            resumable = code not in (1000, 1001, 4004, 4007, 4009, 4010, 4011, 4012, 4013, 4014)
        closed = await self._gateway.close_sockets(code, resumable=resumable)
        return self._count_gateway(f"close_{code}", closed)

    async def drop_gateway(self) -> int:
        """Cuts every bot's socket without a close frame: the client sees 1006 and RESUMEs."""
        return self._count_gateway("close_1006", await self._gateway.drop_sockets())

    async def reconnect(self) -> int:
        """Op 7 RECONNECT to every connected bot: discord.py closes and RESUMEs."""
        return self._count_gateway("op7", await self._gateway.request_reconnect())

    async def invalid_session(self, *, resumable: bool = False) -> int:
        """Op 9 INVALID_SESSION: ``d: false`` forgets the session (discord.py IDENTIFYs anew,
        after ``before_identify_hook``, 5 s by default); ``d: true`` lets it RESUME."""
        sent = await self._gateway.invalidate_sessions(resumable=resumable)
        return self._count_gateway("op9", sent)

    async def gateway_fault(self, kind: str) -> int:
        """Applies one of ``GATEWAY_KINDS`` by name."""
        if kind == "close_1006":
            return await self.drop_gateway()
        if kind.startswith("close_"):
            return await self.close_gateway(int(kind.removeprefix("close_")))
        if kind == "op7":
            return await self.reconnect()
        if kind == "op9":
            return await self.invalid_session()
        raise ValueError(f"unknown gateway fault kind {kind!r}")

    async def aclose(self) -> None:
        """Cancels gateway faults still in flight (the fake is stopping)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- bookkeeping --

    def _count(self, kind: str, method: str = "", path: str = "") -> None:
        self.counts[kind] += 1
        self.log.append(InjectedFault(time.monotonic(), kind, method, path))

    def _count_gateway(self, kind: str, sockets: int) -> int:
        if sockets:
            self._count(kind)
        return sockets

    def _spawn(self, coro: Coroutine[Any, Any, int]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
