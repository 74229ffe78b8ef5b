"""``fake.faults``: Discord's failures on the wire, and what the real discord.py client does.

Observed with discord.py 2.7: a 429 with ``Via`` is waited out and retried, one without is
raised; 500/502/504 are retried after 1, 3, 5, 7, 9 s and then raised as DiscordServerError,
a 503 is raised at once; 401/403/404 are raised with Discord's code. ``channel.send`` always
sends a nonce with ``enforce_nonce`` (its own random one unless given), so its retries land once;
a new call gets a new random nonce, and webhook followups have none, so those land twice. Gateway
closes with 4000 or 1006, op 7 and op 9 ``d: true`` RESUME; 4009 and op 9 ``d: false`` IDENTIFY.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.fakediscord import FakeDiscord, RestFault
from tests.fakediscord.faults import RoutePattern

POST_MESSAGE = "POST /channels/*/messages"


class PlainClient(discord.Client):
    """A bare discord.py client (plus /defer): what the failures reach without any bot logic."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.guild_id = guild_id
        self.tree = app_commands.CommandTree(self)
        self.seen: list[discord.Message] = []
        self.deferred: list[discord.Interaction] = []

    async def setup_hook(self) -> None:
        @self.tree.command(
            description="Defer and leave the followups to the test",
            guild=discord.Object(self.guild_id),
        )
        async def defer(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            self.deferred.append(interaction)

        await self.tree.sync(guild=discord.Object(self.guild_id))

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before every non-initial IDENTIFY; tests need not."""

    async def on_message(self, message: discord.Message) -> None:
        if message.author != self.user:
            self.seen.append(message)


@pytest.fixture
async def client(fake_discord: FakeDiscord) -> AsyncIterator[PlainClient]:
    async with fake_discord.running(PlainClient(fake_discord.guild.id)) as running:
        yield running


def text_channel(client: discord.Client, fake: FakeDiscord) -> discord.TextChannel:
    channel = client.get_channel(fake.general.id)
    assert isinstance(channel, discord.TextChannel)
    return channel


def posts(fake: FakeDiscord) -> list[tuple[int, str | None]]:
    """(status, fault kind) of every create-message call in #general, in order."""
    path = f"/channels/{fake.general.id}/messages"
    return [(r.status, r.fault) for r in fake.requests if (r.method, r.path) == ("POST", path)]


def contents(fake: FakeDiscord) -> list[str]:
    return [m.content for m in fake.messages_in(fake.general)]


async def raw(
    fake: FakeDiscord, method: str, path: str, **kwargs: Any
) -> tuple[int, dict[str, str], str]:
    """A bare HTTP call with the bot token: status, headers, body text."""
    headers = {"Authorization": f"Bot {fake.token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, fake.api_base + path, headers=headers, **kwargs) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.text()


# -- the wire: bodies and headers --


async def test_429_carries_discords_headers_and_body(fake_discord: FakeDiscord) -> None:
    fake_discord.faults.fail_next("GET /users/@me", 429, retry_after=1.25)
    status, headers, text = await raw(fake_discord, "GET", "/users/@me")
    assert status == 429
    assert headers["Content-Type"] == "application/json" and headers["Via"] == "1.1 google"
    assert headers["Retry-After"] == "2"  # whole seconds, rounded up
    assert headers["X-RateLimit-Limit"] == "5" and headers["X-RateLimit-Remaining"] == "0"
    assert headers["X-RateLimit-Reset-After"] == "1.250"
    assert float(headers["X-RateLimit-Reset"]) == pytest.approx(time.time() + 1.25, abs=2)
    assert len(headers["X-RateLimit-Bucket"]) == 32 and headers["X-RateLimit-Scope"] == "user"
    assert "X-RateLimit-Global" not in headers
    assert json.loads(text) == {
        "message": "You are being rate limited.",
        "retry_after": 1.25,
        "global": False,
    }
    assert (await raw(fake_discord, "GET", "/users/@me"))[0] == 200  # only the next call

    fake_discord.faults.fail_next("*", 429, scope="global", retry_after=0.5)
    status, headers, text = await raw(fake_discord, "GET", "/users/@me")
    assert (status, headers["X-RateLimit-Global"], headers["X-RateLimit-Scope"]) == (
        429,
        "true",
        "global",
    )
    assert "X-RateLimit-Bucket" not in headers and json.loads(text)["global"] is True
    assert fake_discord.faults.counts == {"429": 1, "429_global": 1}
    assert [r.fault for r in fake_discord.requests] == ["429", None, "429_global"]


@pytest.mark.parametrize(
    ("status", "content_type", "text"),
    [
        (500, "application/json", '{"message": "500: Internal Server Error", "code": 0}'),
        (502, "text/html", "<title>502 Bad Gateway</title>"),
        (503, "text/plain", "upstream connect error or disconnect/reset before headers"),
        (504, "text/html", "<title>504 Gateway Time-out</title>"),
    ],
)
async def test_server_errors_carry_discords_and_cloudflares_bodies(
    fake_discord: FakeDiscord, status: int, content_type: str, text: str
) -> None:
    fake_discord.faults.fail_next("GET /users/@me", status)
    got_status, headers, body = await raw(fake_discord, "GET", "/users/@me")
    assert (got_status, headers["Content-Type"]) == (status, content_type)
    assert text in body
    if status in (502, 504):
        assert headers["Server"] == "cloudflare" and "CF-RAY" in headers


def test_route_patterns_and_kinds() -> None:
    post = RoutePattern.parse(POST_MESSAGE)
    assert post.matches("POST", "/channels/1/messages")
    assert not post.matches("GET", "/channels/1/messages")
    assert not post.matches("POST", "/channels/1/messages/2")
    named = RoutePattern.parse("/api/v10/channels/{channel_id}")
    assert named.matches("GET", "/channels/9") and named.matches("DELETE", "/channels/9")
    assert RoutePattern.parse("DELETE /channels/**").matches("DELETE", "/channels/1/messages/2")
    assert RoutePattern.parse("GET *").matches("GET", "/anything/at/all")
    assert not RoutePattern.parse("GET *").matches("POST", "/anything")
    assert RoutePattern.parse("*").matches("PATCH", "/x")
    assert RestFault(404).kind == "404_10003" and RestFault(502, lands=True).kind == "502_landed"
    assert RestFault(429, via=False).kind == "429_cloudflare"
    with pytest.raises(ValueError):
        RestFault(404, code=12345)
    with pytest.raises(ValueError):
        FakeDiscord().faults.random(0.1, seed=1, kinds=["418"])


# -- REST faults through discord.py --


@pytest.mark.parametrize("scope", ["user", "global", "shared"])
async def test_429_is_waited_out_and_the_message_lands_once(
    fake_discord: FakeDiscord, client: PlainClient, scope: str
) -> None:
    fake_discord.faults.fail_next(POST_MESSAGE, 429, retry_after=0.3, scope=scope)
    start = time.monotonic()
    sent = await text_channel(client, fake_discord).send("hello")
    assert time.monotonic() - start >= 0.3
    assert [m.id for m in fake_discord.messages_in(fake_discord.general)] == [sent.id]
    kind = "429" if scope == "user" else f"429_{scope}"
    assert posts(fake_discord) == [(429, kind), (200, None)]


async def test_429_without_via_is_not_trusted(
    fake_discord: FakeDiscord, client: PlainClient
) -> None:
    """Cloudflare's ban page has no ``Via: 1.1 google``: discord.py raises instead of waiting."""
    fake_discord.faults.fail_next(POST_MESSAGE, 429, via=False)
    with pytest.raises(discord.HTTPException) as caught:
        await text_channel(client, fake_discord).send("hello")
    assert caught.value.status == 429 and "Error 1015" in caught.value.text
    assert posts(fake_discord) == [(429, "429_cloudflare")] and contents(fake_discord) == []


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_5xx_is_retried_and_the_message_lands_once(
    fake_discord: FakeDiscord, client: PlainClient, status: int
) -> None:
    start = time.monotonic()
    fake_discord.faults.fail_next(POST_MESSAGE, status)
    await text_channel(client, fake_discord).send("hello")
    assert time.monotonic() - start >= 1.0  # discord.py's first pause
    assert posts(fake_discord) == [(status, str(status)), (200, None)]
    assert contents(fake_discord) == ["hello"]


async def test_503_is_raised_at_once(fake_discord: FakeDiscord, client: PlainClient) -> None:
    """discord.py retries only 500, 502, 504 and 524: Envoy's plain-text 503 reaches the caller."""
    fake_discord.faults.fail_next(POST_MESSAGE, 503)
    with pytest.raises(discord.DiscordServerError) as caught:
        await text_channel(client, fake_discord).send("hello")
    assert caught.value.status == 503 and caught.value.text.startswith("upstream connect error")
    assert posts(fake_discord) == [(503, "503")] and contents(fake_discord) == []


async def test_write_that_lands_but_answers_502_is_deduplicated_by_its_nonce(
    fake_discord: FakeDiscord, client: PlainClient
) -> None:
    channel = text_channel(client, fake_discord)
    fake_discord.faults.fail_next(POST_MESSAGE, 502, lands=True)
    sent = await channel.send("result", nonce="job7-try1")
    assert [m.id for m in fake_discord.messages_in(fake_discord.general)] == [sent.id]
    assert posts(fake_discord) == [(502, "502_landed"), (200, None)]
    assert fake_discord.nonces.hits == 1 and sent.nonce == "job7-try1"

    # discord.py gives every send a random nonce of its own: its retries land once too.
    fake_discord.faults.fail_next(POST_MESSAGE, 502, lands=True)
    auto = await channel.send("auto")
    assert contents(fake_discord) == ["result", "auto"] and fake_discord.nonces.hits == 2
    assert auto.nonce  # what discord.py picked

    # A webhook followup carries no nonce: the retry cannot know it landed and posts it twice.
    interaction = await fake_discord.slash(fake_discord.member, "defer")
    await fake_discord.wait_until(lambda: client.deferred, what="deferred interaction")
    await client.deferred[0].followup.send("filled")  # fills the "thinking" message
    fake_discord.faults.fail_next("POST /webhooks/**", 502, lands=True)
    await client.deferred[0].followup.send("followup")
    assert [m.content for m in interaction.followups] == ["followup", "followup"]
    assert fake_discord.faults.counts == {"502_landed": 3}


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (403, 50013, discord.Forbidden),
        (404, 10003, discord.NotFound),
        (403, 50007, discord.Forbidden),
        (404, 10008, discord.NotFound),
        (404, 10015, discord.NotFound),
        (401, 50027, discord.HTTPException),
    ],
)
async def test_discord_error_codes_on_demand(
    fake_discord: FakeDiscord,
    client: PlainClient,
    status: int,
    code: int,
    error: type[discord.HTTPException],
) -> None:
    fake_discord.faults.fail_next("GET /channels/{channel_id}", status, code=code)
    with pytest.raises(error) as caught:
        await client.fetch_channel(fake_discord.general.id)
    assert (caught.value.status, caught.value.code) == (status, code)
    assert (await client.fetch_channel(fake_discord.general.id)).id == fake_discord.general.id
    assert fake_discord.faults.counts == {f"{status}_{code}": 1}


async def test_deleted_channel_answers_10003(
    fake_discord: FakeDiscord, client: PlainClient
) -> None:
    music = fake_discord.add_channel(fake_discord.guild, "music")
    await fake_discord.flush()
    stale = client.get_channel(music.id)
    assert isinstance(stale, discord.TextChannel)
    fake_discord.delete_channel(music)
    await fake_discord.flush()
    assert client.get_channel(music.id) is None  # CHANNEL_DELETE reached the client
    with pytest.raises(discord.NotFound) as caught:
        await stale.send("your riff")
    assert (caught.value.status, caught.value.code) == (404, 10003)


async def test_closed_dms_answer_50007(fake_discord: FakeDiscord, client: PlainClient) -> None:
    fake_discord.close_dms(fake_discord.member)
    user = await client.fetch_user(fake_discord.member.id)
    with pytest.raises(discord.Forbidden) as caught:
        await user.send("your riff")
    assert (caught.value.status, caught.value.code) == (403, 50007)
    assert caught.value.text == "Cannot send messages to this user"


async def test_outage_shorter_than_the_retries_is_survived(
    fake_discord: FakeDiscord, client: PlainClient
) -> None:
    outage = fake_discord.faults.outage(seconds=0.5, status=502, routes=POST_MESSAGE)
    channel = text_channel(client, fake_discord)
    assert (await client.fetch_channel(channel.id)).id == channel.id  # other routes still work
    await channel.send("hello")
    assert posts(fake_discord) == [(502, "502"), (200, None)]
    assert outage.failed == 1 and not outage.active
    assert fake_discord.faults.counts == {"outage": 1, "502": 1}


async def test_outage_longer_than_the_retries_reaches_the_caller(
    fake_discord: FakeDiscord, client: PlainClient, fast_retries: None
) -> None:
    channel = text_channel(client, fake_discord)
    outage = fake_discord.faults.outage(seconds=60, status=502, routes=POST_MESSAGE)
    with pytest.raises(discord.DiscordServerError) as caught:
        await channel.send("hello")
    assert caught.value.status == 502 and "502 Bad Gateway" in caught.value.text  # HTML body
    assert posts(fake_discord) == [(502, "502")] * 5 and contents(fake_discord) == []
    outage.end()
    assert 1.0 < outage.lasted < 60 and not outage.active
    await channel.send("after")
    assert contents(fake_discord) == ["after"]

    # Writes that land through a whole outage: the caller is told it failed, yet it posted
    # (once: the five tries share a nonce). Sending again later with the same nonce (within the
    # window) gets that message back; a call without one gets a new random nonce and a double.
    for nonce in ("job9-try1", None):
        fake_discord.faults.outage(seconds=60, status=502, routes=POST_MESSAGE, lands=True)
        with pytest.raises(discord.DiscordServerError):
            await channel.send(f"landed {nonce}", nonce=nonce)
        fake_discord.faults.clear()
        await channel.send(f"landed {nonce}", nonce=nonce)
    assert contents(fake_discord) == ["after", "landed job9-try1", "landed None", "landed None"]
    assert fake_discord.faults.counts == {"outage": 3, "502": 5, "502_landed": 10}


# -- enforce_nonce and history --


@pytest.mark.fake_discord(nonce_window=10.0)
async def test_enforce_nonce_deduplicates_within_the_window_only(
    fake_discord: FakeDiscord, client: PlainClient
) -> None:
    channel = text_channel(client, fake_discord)
    first = await channel.send("result", nonce="riff-1")
    assert (await channel.send("result", nonce="riff-1")).id == first.id
    fake_discord.advance_time(9)
    assert (await channel.send("result", nonce="riff-1")).id == first.id
    other = await channel.send("result", nonce="riff-2")
    fake_discord.advance_time(2)  # 11 s after riff-1 was created
    late = await channel.send("result", nonce="riff-1")
    assert len({first.id, other.id, late.id}) == 3
    assert contents(fake_discord) == ["result"] * 3 and fake_discord.nonces.hits == 2
    assert first.nonce == "riff-1"  # echoed when created...
    assert (await channel.fetch_message(first.id)).nonce is None  # ...never when read back
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send("x", nonce="n" * 26)
    assert (caught.value.status, caught.value.code) == (400, 50035)


def custom_ids(message: discord.Message) -> list[str]:
    return [
        child.custom_id
        for row in message.components
        if isinstance(row, discord.ActionRow)
        for child in row.children
        if isinstance(child, discord.Button) and child.custom_id
    ]


async def test_history_returns_components_and_pages_like_discord(
    fake_discord: FakeDiscord, client: PlainClient
) -> None:
    channel = text_channel(client, fake_discord)
    sent = []
    for i in range(5):
        view = discord.ui.View()
        view.add_item(discord.ui.Button(label="Reroll", custom_id=f"riff:reroll:{i}"))
        sent.append(await channel.send(f"result {i}", view=view, nonce=f"gen-{i}"))

    chatter = await fake_discord.user_message(fake_discord.member, content="chatter")
    newest = [m async for m in channel.history(limit=3)]
    assert [m.id for m in newest] == [chatter.id, sent[4].id, sent[3].id]
    found = [m async for m in channel.history(limit=50) if "riff:reroll:2" in custom_ids(m)]
    assert [m.id for m in found] == [sent[2].id]
    assert found[0].nonce is None  # the marker to look for is the custom_id, not the nonce

    before = [m.content async for m in channel.history(limit=2, before=sent[3])]
    assert before == ["result 2", "result 1"]
    after = [m.content async for m in channel.history(limit=2, after=sent[1])]
    assert after == ["result 2", "result 3"]  # discord.py lists `after` oldest first

    path = f"/channels/{fake_discord.general.id}/messages"
    status, _, text = await raw(fake_discord, "GET", f"{path}?around={sent[2].id}&limit=3")
    assert [m["content"] for m in json.loads(text)] == ["result 3", "result 2", "result 1"]
    status, _, text = await raw(fake_discord, "GET", f"{path}?after={sent[0].id}&limit=2")
    assert [m["content"] for m in json.loads(text)] == ["result 2", "result 1"]  # newest first
    for limit in (0, 101):
        status, _, text = await raw(fake_discord, "GET", f"{path}?limit={limit}")
        assert (status, json.loads(text)["code"]) == (400, 50035)


# -- gateway faults --

GatewayFault = Callable[[FakeDiscord], Awaitable[int]]
#: name -> (inject, kind counted, close code of the first socket: for op 7 and op 9 d=true the
#: client closes it itself, with 4000 so that its session survives).
RESUMING: dict[str, tuple[GatewayFault, str, int]] = {
    "close 4000": (lambda f: f.faults.close_gateway(4000), "close_4000", 4000),
    "drop (1006)": (lambda f: f.faults.drop_gateway(), "close_1006", 1006),
    "op 7": (lambda f: f.faults.reconnect(), "op7", 4000),
    "op 9 d=true": (lambda f: f.faults.invalid_session(resumable=True), "op9", 4000),
}
REIDENTIFYING: dict[str, tuple[GatewayFault, str]] = {
    "close 4009": (lambda f: f.faults.close_gateway(4009), "close_4009"),
    "op 9": (lambda f: f.faults.invalid_session(), "op9"),
}


@pytest.mark.parametrize("name", list(RESUMING))
async def test_gateway_fault_is_resumed(
    fake_discord: FakeDiscord, client: PlainClient, name: str
) -> None:
    inject, kind, close_code = RESUMING[name]
    session = await fake_discord.wait_for_bot()
    assert await inject(fake_discord) == 1
    await fake_discord.wait_until(lambda: session.resumes == 1, what="resume")
    await fake_discord.user_message(fake_discord.member, content="after", mentions_bot=True)
    await fake_discord.wait_until(lambda: client.seen, what="message after the resume")
    connections = fake_discord.gateway.connections
    assert [(c.resumed, c.close_code) for c in connections] == [(False, close_code), (True, None)]
    assert fake_discord.live_sessions() == [session]
    assert fake_discord.faults.counts == {kind: 1}


@pytest.mark.parametrize("name", list(REIDENTIFYING))
async def test_gateway_fault_ends_the_session_and_the_client_identifies(
    fake_discord: FakeDiscord, client: PlainClient, name: str
) -> None:
    inject, kind = REIDENTIFYING[name]
    first = await fake_discord.wait_for_bot()
    assert await inject(fake_discord) == 1
    second = await fake_discord.wait_until(
        lambda: next((s for s in fake_discord.live_sessions() if s is not first), None),
        what="new session",
    )
    assert not first.resumable and first.resumes == 0
    await fake_discord.user_message(fake_discord.member, content="after", mentions_bot=True)
    await fake_discord.wait_until(lambda: client.seen, what="message in the new session")
    identified = [c.session_id for c in fake_discord.gateway.connections if c.session_id]
    assert identified == [first.id, second.id]
    assert fake_discord.faults.counts == {kind: 1}


# -- the seeded random mode --


async def test_random_mode_is_seeded_routed_and_counted(fake_discord: FakeDiscord) -> None:
    faults = fake_discord.faults

    async def draw(seed: int) -> list[int]:
        faults.random(0.5, seed=seed, kinds=["429", "500", "404_10003"], routes="GET /users/@me")
        statuses = [(await raw(fake_discord, "GET", "/users/@me"))[0] for _ in range(30)]
        # Other routes are not touched.
        assert (await raw(fake_discord, "GET", f"/channels/{fake_discord.general.id}"))[0] == 200
        faults.stop_random()
        return statuses

    first = await draw(seed=3)
    assert first == await draw(seed=3)
    assert first != await draw(seed=4)
    assert set(first) == {200, 429, 500, 404}
    failed = [r for r in fake_discord.requests if r.status != 200]
    assert sum(faults.counts.values()) == len(failed) == len(faults.log)
    assert set(faults.counts) == {"429", "500", "404_10003"}
    assert all(r.fault for r in failed) and (await raw(fake_discord, "GET", "/users/@me"))[0] == 200


async def test_random_mode_applies_gateway_kinds(
    fake_discord: FakeDiscord, client: PlainClient
) -> None:
    session = await fake_discord.wait_for_bot()
    fake_discord.faults.random(
        1.0, seed=1, kinds=["close_4000"], routes="GET /oauth2/applications/@me"
    )
    await client.application_info()  # the call passes; the socket is closed beside it
    fake_discord.faults.stop_random()
    await fake_discord.wait_until(lambda: session.resumes == 1, what="resume")
    assert fake_discord.faults.counts == {"close_4000": 1}


async def test_random_rest_faults_with_nonces_deliver_each_message_once(
    fake_discord: FakeDiscord, client: PlainClient, fast_retries: None
) -> None:
    """A small soak: transient REST kinds on create-message; the sender tries again with the
    same nonce when discord.py gives up (a 503, or five failures in a row, 429s included)."""
    channel = text_channel(client, fake_discord)
    kinds = ["429", "429_global", "500", "502", "502_landed", "503", "504"]
    fake_discord.faults.random(0.4, seed=3, kinds=kinds, routes=POST_MESSAGE, retry_after=0.05)
    gave_up = 0
    for i in range(15):
        while True:
            try:
                await channel.send(f"job {i}", nonce=f"job{i}-a")
                break
            except discord.HTTPException as exc:
                assert exc.status == 429 or exc.status >= 500
                gave_up += 1
    fake_discord.faults.stop_random()
    counts = fake_discord.faults.counts
    print(f"faults: {dict(counts)}, discord.py gave up {gave_up} times")
    assert contents(fake_discord) == [f"job {i}" for i in range(15)]
    # Seed 3 draws writes that land and 503s (which discord.py does not retry).
    assert counts["502_landed"] >= 1 and gave_up >= counts["503"] >= 1
    assert fake_discord.nonces.hits >= counts["502_landed"]
