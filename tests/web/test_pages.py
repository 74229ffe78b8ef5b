"""Result pages and the favourites gallery over a real HTTP connection to the bot (free ports,
the fake Discord, FakeRenderer): what is served, and that everything not public (web pages
off, a DM, a private channel, a deleted result, another server's gallery, garbled tokens and
paths) answers the same 404 as an address that never existed."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timezone

import aiohttp
import pytest
from sqlalchemy import select

from bot.store.db import Database
from bot.store.models import Favourite, Generation
from bot.store.server_models import GuildSettings
from bot.store.web_pages import GALLERY_PER_PAGE, new_token
from tests.fakediscord import FakeDiscord, Message, User
from tests.fakediscord.models import Channel, Perm
from tests.fixtures.bot import BotHarness, FakeRenderer, generation_id, is_result
from tests.fixtures.web import free_port

pytestmark = pytest.mark.timeout(120)


async def riff(
    fake: FakeDiscord, user: User, prompt: str, channel: Channel | None = None
) -> Message:
    await fake.slash(user, "riff", {"prompt": prompt, "seed": 7}, channel=channel)
    return await fake.wait_for_message(
        lambda m: is_result(m) and prompt in m.content and "shared #" not in m.content,
        timeout=15,
    )


async def answer(fake: FakeDiscord, user: User, name: str, options: dict[str, object]) -> str:
    return (await fake.response_message(await fake.slash(user, name, options))).content


async def info(fake: FakeDiscord, result: Message, user: User) -> str:
    clicked = await fake.click(result, f"riff:info:{generation_id(result)}", user)
    return (await fake.response_message(clicked)).content


async def row(db: Database, generation_id: int) -> Generation:
    """The result's row once its delivery is recorded (the message shows up a moment before)."""
    for _ in range(200):
        async with db.session() as session:
            found = await session.get(Generation, generation_id)
        if found is not None and found.public is not None:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"result #{generation_id}'s delivery was not recorded")


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str, bytes]:
    async with http.get(url) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.read()


async def raw_get(port: int, path: str) -> tuple[int, bytes]:
    """A request line sent as written: no client normalises the path first."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def test_a_public_result_has_a_page_only_while_pages_are_on_and_it_is_not_deleted(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    secret = fake.add_channel(fake.guild, "secret")
    fake.set_permissions(secret, fake.guild.everyone, deny=Perm.VIEW_CHANNEL)
    allow = Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.ATTACH_FILES | Perm.READ_MESSAGE_HISTORY
    fake.set_permissions(secret, fake.bot_user, allow=allow)
    fake.set_permissions(secret, fake.member, allow=allow)
    async with (
        bot_harness.running(FakeRenderer(), WEB_PORT=str(port)) as bot,
        aiohttp.ClientSession() as http,
    ):
        db = bot.services.db
        result = await riff(fake, fake.member, 'public <b>jazz</b> & "friends"')
        generation = await row(db, generation_id(result))
        assert generation.public is True
        token = generation.web_token
        assert token is not None and len(token) == 43
        page = f"{base}/r/{token}"
        _, _, unknown = await get(http, f"{base}/r/{new_token()}")

        # Pages off (the default): no page, and Info shows no link.
        assert (await get(http, page))[0] == 404
        assert (await get(http, f"{page}/image.png"))[0] == 404
        assert "Page:" not in await info(fake, result, fake.member)

        said = await answer(fake, fake.admin, "admin web", {"state": "on"})
        gallery_token = re.search(r"/g/([A-Za-z0-9_-]{43})", said)
        assert gallery_token, said
        assert f"Page: {page}" in await info(fake, result, fake.member)

        status, kind, body = await get(http, page)
        assert status == 200 and kind.startswith("text/html")
        text = body.decode()
        assert "public &lt;b&gt;jazz&lt;/b&gt; &amp; &quot;friends&quot;" in text
        assert "<b>jazz" not in text
        assert f'<meta property="og:image" content="{page}/image.png">' in text
        assert f'<meta property="og:audio" content="{page}/audio.mp3">' in text
        assert '<meta property="og:type" content="music.song">' in text
        assert '<meta name="twitter:card" content="summary_large_image">' in text
        assert 'name="viewport"' in text and "/riff prompt:public" in text
        audio_src = re.search(r'<audio[^>]* src="([^"]+)"', text)
        assert audio_src and audio_src[1] == f"/r/{token}/audio.mp3"
        status, kind, mp3 = await get(http, base + audio_src[1])
        assert (status, kind) == (200, "audio/mpeg") and len(mp3) > 100
        status, kind, png = await get(http, f"{page}/image.png")
        assert (status, kind) == (200, "image/png") and png.startswith(b"\x89PNG")
        status, kind, css = await get(http, f"{base}/static/site.css")
        assert status == 200 and kind.startswith("text/css") and b"body" in css

        # Unknown, garbled and path-like tokens: the same 404 as an address never served.
        for path in (
            f"/r/{new_token()}",
            f"/r/{token[:-1]}",
            f"/r/{token}x",
            f"/r/{token}/other.txt",
            "/r/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "/g/nothing",
            f"/g/{token}",
            "/static/../pages.py",
            "/no/such/address",
        ):
            assert (await get(http, base + path))[::2] == (404, unknown), path
        for path in ("/r/../../etc/passwd", "/r/%2e%2e/x", "/static/%2e%2e/pages.py"):
            assert await raw_get(port, path) == (404, unknown), path

        # A private channel and a result sent by DM: never public, never a page.
        private = await riff(fake, fake.member, "hush", channel=secret)
        hidden = await row(db, generation_id(private))
        assert hidden.public is False and hidden.web_token is None
        assert "Page:" not in await info(fake, private, fake.member)
        await answer(fake, fake.member, "settings set", {"results_by_dm": True})
        await fake.slash(fake.member, "riff", {"prompt": "by dm", "seed": 1})
        dm = await fake.wait_for_message(is_result, channel=fake.dm_channel(fake.member))
        by_dm = await row(db, generation_id(dm))
        assert by_dm.guild_id == fake.guild.id and by_dm.public is False
        assert by_dm.web_token is None
        await answer(fake, fake.member, "settings set", {"results_by_dm": False})

        # Web pages off again: gone; on: back; deleted: gone for good.
        await answer(fake, fake.admin, "admin web", {"state": "off"})
        assert (await get(http, page))[::2] == (404, unknown)
        assert "Page:" not in await info(fake, result, fake.member)
        again = await answer(fake, fake.admin, "admin web", {"state": "on"})
        assert f"/g/{gallery_token[1]}" in again  # the gallery keeps its link
        assert (await get(http, page))[0] == 200
        deleting = await fake.click(result, f"riff:delete:{generation_id(result)}", fake.member)
        assert (await fake.response_message(deleting)).content == "Deleted."
        for path in ("", "/image.png", "/audio.mp3"):
            assert (await get(http, page + path))[::2] == (404, unknown), path


async def test_the_gallery_pages_favourites_of_its_own_server_only(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with (
        bot_harness.running(FakeRenderer(), WEB_PORT=str(port)) as bot,
        aiohttp.ClientSession() as http,
    ):
        db = bot.services.db
        said = await answer(fake, fake.admin, "admin web", {"state": "on"})
        match = re.search(r"/g/([A-Za-z0-9_-]{43})", said)
        assert match, said
        ours = f"{base}/g/{match[1]}"
        liked = await riff(fake, fake.member, "most liked")
        await riff(fake, fake.member, "not liked")
        for user in (fake.member, fake.admin):
            await fake.click(liked, f"riff:fav:{generation_id(liked)}", user)
        # 24 more favourited public results of this server, and one of another server.
        other_guild = fake.guild.id + 1
        other_token = new_token()
        async with db.session() as session:
            template = await session.get(Generation, generation_id(liked))
            assert template is not None
            made = [
                clone(template, guild_id=fake.guild.id, prompt=f"filler {n:02d}")
                for n in range(GALLERY_PER_PAGE)
            ]
            foreign = clone(template, guild_id=other_guild, prompt="elsewhere")
            session.add_all([*made, foreign])
            session.add(
                GuildSettings(
                    guild_id=other_guild,
                    allowed_channels=[],
                    blocked_words=[],
                    blocked_patterns=[],
                    web_pages=True,
                    web_token=other_token,
                )
            )
            await session.flush()
            session.add_all(
                Favourite(user_id=fake.member.id, generation_id=g.id) for g in [*made, foreign]
            )
        await wait_favourites(db, generation_id(liked), 2)

        status, _, body = await get(http, ours)
        assert status == 200
        first = body.decode()
        cards = re.findall(r'<li><a href="/r/([A-Za-z0-9_-]{43})">', first)
        assert len(cards) == GALLERY_PER_PAGE
        liked_row = await row(db, generation_id(liked))
        assert cards[0] == liked_row.web_token  # the most favourited first
        assert f'<img src="/r/{liked_row.web_token}/image.png"' in first
        assert "Page 1 of 2" in first and "?page=2" in first
        assert "elsewhere" not in first and "not liked" not in first
        second = (await get(http, ours + "?page=2"))[2].decode()
        assert "Page 2 of 2" in second and len(re.findall("<li>", second)) == 1
        assert "filler 00" in second  # the oldest of the equally liked comes last
        assert "?page=1" in second
        assert "Page 2 of 2" in (await get(http, ours + "?page=99"))[2].decode()
        assert "Page 1 of 2" in (await get(http, ours + "?page=x"))[2].decode()

        # Another server's token lists that server's results, never this one's.
        theirs = (await get(http, f"{base}/g/{other_token}"))[2].decode()
        assert "elsewhere" in theirs and "most liked" not in theirs and "filler" not in theirs

        # A deleted result leaves the gallery.
        async with db.session() as session:
            gone = await session.scalar(select(Generation).where(Generation.prompt == "filler 23"))
            assert gone is not None
            gone.deleted_at = datetime.now(timezone.utc)
        assert "Page 1 of 1" in (await get(http, ours))[2].decode()


def clone(template: Generation, **values: object) -> Generation:
    fields = {
        c.key: getattr(template, c.key)
        for c in Generation.__table__.columns
        if c.key not in {"id", "web_token", "created_at", "message_id"}
    }
    return Generation(**{**fields, "public": True, "web_token": new_token(), **values})


async def wait_favourites(db: Database, generation_id: int, count: int) -> None:
    for _ in range(100):
        async with db.session() as session:
            found = await session.scalars(
                select(Favourite).where(Favourite.generation_id == generation_id)
            )
            if len(list(found)) >= count:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the favourites were not recorded")
