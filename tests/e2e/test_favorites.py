"""/favorites, /history and the Favourite button over the fake Discord (FakeRenderer: fast).

The pages and the concurrent toggles run on SQLite and on PostgreSQL (`database_url`).

Pages are ephemeral messages whose buttons are DynamicItems: they are clicked after a restart
here, by their owner and by someone else; posting again must carry the stored files.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.store import records
from bot.store.db import open_database
from bot.store.models import Favourite, Generation
from tests.fakediscord import FakeDiscord, Message, User
from tests.fixtures.bot import BotHarness, FakeRenderer, generation_id

pytestmark = pytest.mark.timeout(180)


def is_result(message: Message) -> bool:
    return (
        any(a.filename.endswith(".mp3") for a in message.attachments)
        and "shared #" not in message.content
    )


async def make_results(
    fake: FakeDiscord, user: User, count: int, prefix: str = "tune"
) -> list[Message]:
    results = []
    for n in range(count):
        await fake.slash(user, "riff", {"prompt": f"{prefix} {n}", "seed": n})
        results.append(
            await fake.wait_for_message(
                lambda m, n=n: is_result(m) and f"{prefix} {n}" in m.content, timeout=15
            )
        )
    return results


async def command_page(fake: FakeDiscord, user: User, name: str) -> Message:
    page = await fake.response_message(await fake.slash(user, name))
    assert page.ephemeral
    return page


def description(message: Message) -> str:
    return message.embeds[0].get("description", "")


async def click_and_wait_edit(
    fake: FakeDiscord, page: Message, custom_id: str, user: User
) -> Message:
    edits = len(page.edits)
    await fake.click(page, custom_id, user)
    return await fake.wait_for_edit(page, edits=edits + 1, timeout=10)


async def test_favorites_pages_work_after_a_restart_post_again_and_remove(
    fake_discord: FakeDiscord, bot_harness: BotHarness, database_url: str
):
    fake = fake_discord
    bot_harness.database_url = database_url  # SQLite, then PostgreSQL
    uid = fake.member.id
    stranger = fake.add_user("stranger")
    fake.add_member(fake.guild, stranger)
    async with bot_harness.running(FakeRenderer()):
        results = await make_results(fake, fake.member, 7)
        for result in results:
            fav = await fake.click(result, f"riff:fav:{generation_id(result)}", fake.member)
            assert "Added" in (await fake.response_message(fav)).content
        page = await command_page(fake, fake.member, "favorites")
    ids = [generation_id(r) for r in results]
    embed = page.embeds[0]
    assert embed["title"] == "Your favourites (7)"
    assert embed["footer"]["text"].startswith("Page 1 of 2")
    newest_first = ids[::-1]
    assert [f"#{i} Riff" in description(page) for i in newest_first[:5]] == [True] * 5
    assert f"#{ids[0]} " not in description(page)
    assert page.custom_ids() == (
        [f"lib:post:fav:{uid}:0:{i}" for i in newest_first[:5]]
        + [f"lib:unfav:fav:{uid}:0:{i}" for i in newest_first[:5]]
        + [f"lib:page:fav:{uid}:-1", f"lib:page:fav:{uid}:1"]
    )

    async with bot_harness.running(FakeRenderer()) as bot:  # a restart: nothing in memory
        await click_and_wait_edit(fake, page, f"lib:page:fav:{uid}:1", fake.member)
        assert page.embeds[0]["footer"]["text"].startswith("Page 2 of 2")
        assert f"**6.** #{ids[1]} Riff" in description(page)
        assert f"**7.** #{ids[0]} Riff" in description(page)
        assert f"lib:page:fav:{uid}:2" in page.custom_ids()  # Next, disabled on the last page

        refused = await fake.click(page, f"lib:page:fav:{uid}:0", stranger)
        assert "belong to" in (await fake.response_message(refused)).content
        assert page.embeds[0]["footer"]["text"].startswith("Page 2 of 2")  # untouched

        # Post again: a public message in the channel with the stored PNG and MP3.
        oldest = results[0]
        posted = await fake.click(page, f"lib:post:fav:{uid}:1:{ids[0]}", fake.member)
        note = await fake.response_message(posted, timeout=10)
        assert note.ephemeral and f"Posted #{ids[0]}" in note.content
        shared = await fake.wait_for_message(lambda m: "shared #" in m.content, timeout=10)
        assert shared.channel_id == fake.general.id and not shared.ephemeral
        assert str(shared.id) in note.content
        assert sorted(shared.files) == sorted(oldest.files)
        for name, data in oldest.files.items():
            assert shared.files[name] == data
        assert "lib:" not in " ".join(shared.custom_ids())
        assert f"riff:fav:{ids[0]}" in shared.custom_ids()

        # Remove the last entry of page 2: the list shrinks and page 1 is shown instead.
        await fake.click(page, f"lib:page:fav:{uid}:0", fake.member)
        await fake.wait_until(
            lambda: "Page 1 of 2" in page.embeds[0]["footer"]["text"], what="page 1"
        )
        await click_and_wait_edit(fake, page, f"lib:unfav:fav:{uid}:0:{ids[6]}", fake.member)
        assert f"Removed #{ids[6]}" in page.content
        assert page.embeds[0]["title"] == "Your favourites (6)"
        async with bot.services.db.session() as session:
            kept = set(
                await session.scalars(
                    select(Favourite.generation_id).where(Favourite.user_id == uid)
                )
            )
        assert kept == set(ids[:6])

        # Pruned files: the page says so and Post explains instead of failing.
        generation = await records.get_generation(bot.services.db, ids[5])
        for relative in (generation.image_file, generation.audio_file):
            (bot_harness.data_dir / relative).unlink()
        again = await command_page(fake, fake.member, "favorites")
        assert f"#{ids[5]} Riff" in description(again) and "files cleaned up" in description(again)
        gone = await fake.click(again, f"lib:post:fav:{uid}:0:{ids[5]}", fake.member)
        text = (await fake.response_message(gone)).content
        assert f"files of #{ids[5]} were cleaned up" in text and "cannot be posted" in text


async def test_history_lists_only_your_results_and_can_favourite(
    fake_discord: FakeDiscord, bot_harness: BotHarness, database_url: str
):
    fake = fake_discord
    bot_harness.database_url = database_url  # SQLite, then PostgreSQL
    uid = fake.member.id
    other = fake.add_user("other")
    fake.add_member(fake.guild, other)
    async with bot_harness.running(FakeRenderer()):
        empty = await command_page(fake, fake.member, "history")
        assert "no results yet" in description(empty)
        assert empty.custom_ids() == []
        mine = await make_results(fake, fake.member, 2, "mine")
        await make_results(fake, other, 1, "theirs")
        deleted = await fake.click(mine[0], f"riff:delete:{generation_id(mine[0])}", fake.member)
        await fake.response_message(deleted)
        page = await command_page(fake, fake.member, "history")
        keep = generation_id(mine[1])
        assert page.embeds[0]["title"] == "Your recent results (1)"
        assert "mine 1" in description(page)
        assert "theirs" not in description(page) and "mine 0" not in description(page)
        assert page.custom_ids() == [
            f"lib:post:hist:{uid}:0:{keep}",
            f"lib:fav:hist:{uid}:0:{keep}",
        ]
        await click_and_wait_edit(fake, page, f"lib:fav:hist:{uid}:0:{keep}", fake.member)
        assert f"Added #{keep}" in page.content
        assert page.custom_ids()[1] == f"lib:unfav:hist:{uid}:0:{keep}"
        favourites = await command_page(fake, fake.member, "favorites")
        assert f"#{keep} Riff" in description(favourites)
        await click_and_wait_edit(fake, page, f"lib:unfav:hist:{uid}:0:{keep}", fake.member)
        assert f"Removed #{keep}" in page.content
        assert page.embeds[0]["title"] == "Your recent results (1)"  # still in history


async def test_many_users_favourite_one_result_at_once(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    users = [fake.add_user(f"fan{n}") for n in range(8)]
    for user in users:
        fake.add_member(fake.guild, user)
    async with bot_harness.running(FakeRenderer()) as bot:
        [result] = await make_results(fake, fake.member, 1)
        gen = generation_id(result)
        clicks = await asyncio.gather(
            *(fake.click(result, f"riff:fav:{gen}", user) for user in users)
        )
        replies = [await fake.response_message(c, timeout=10) for c in clicks]
        assert all(
            r.ephemeral and f"Added #{gen}" in r.content and "(you have 1)" in r.content
            for r in replies
        )
        assert await records.favourite_count(bot.services.db, gen) == len(users)
        info = await fake.click(result, f"riff:info:{gen}", fake.member)
        assert f"Favourites: {len(users)}" in (await fake.response_message(info)).content

        # One user clicking twice at once: toggled twice or refused once, never two rows.
        double = await asyncio.gather(
            *(fake.click(result, f"riff:fav:{gen}", fake.member) for _ in range(2))
        )
        for click in double:
            await fake.response_message(click, timeout=10)
        async with bot.services.db.session() as session:
            rows = await session.scalar(
                select(func.count())
                .select_from(Favourite)
                .where(Favourite.user_id == fake.member.id, Favourite.generation_id == gen)
            )
        assert rows in (0, 1)
        assert await records.favourite_count(bot.services.db, gen) == len(users) + rows
        unfav = await fake.click(result, f"riff:fav:{gen}", users[0])
        assert "Removed" in (await fake.response_message(unfav)).content
        info = await fake.click(result, f"riff:info:{gen}", fake.member)
        assert f"Favourites: {len(users) - 1 + rows}" in (await fake.response_message(info)).content


async def test_favourites_are_unique_per_user_and_concurrent_toggles_count_exactly(
    database_url: str,
):
    db = await open_database(database_url)
    try:
        generation = await records.add_generation(
            db,
            Generation(
                kind="riff",
                user_id=1,
                prompt="p",
                seed=1,
                steps=3,
                guidance=7.0,
                denoising=0.75,
                duration_s=5.11,
                model="m",
            ),
        )
        outcomes = await asyncio.gather(
            *(records.toggle_favourite(db, user, generation.id) for user in range(100, 130))
        )
        assert all(added and count == 1 for added, count in outcomes)
        assert await records.favourite_count(db, generation.id) == 30
        with pytest.raises(IntegrityError):
            async with db.session() as session:
                session.add(Favourite(user_id=100, generation_id=generation.id))
    finally:
        await db.close()
