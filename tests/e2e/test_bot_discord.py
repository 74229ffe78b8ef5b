"""The bot over the wire-level fake Discord, with a fake renderer (scheduling, buttons, errors).

The tiny real model is used in test_bot_tiny.py; here the renderer is a tone generator so the
tests are about queueing and Discord behaviour and stay fast.
"""

from __future__ import annotations

import asyncio
import itertools
import re

import pytest

from tests.fakediscord import FakeDiscord, Interaction, Message, Perm, User
from tests.fixtures.bot import BotHarness, FakeRenderer, generation_id, is_result

RESULT_BUTTONS = ["reroll", "variation", "extend", "fav", "info", "delete", "remix", "play"]


async def riff(
    fake: FakeDiscord, user: User, prompt: str, **options: object
) -> tuple[Interaction, Message]:
    """Run /riff and return (interaction, status message)."""
    interaction = await fake.slash(user, "riff", {"prompt": prompt, **options})
    status = await fake.response_message(interaction)
    return interaction, status


async def test_riff_posts_one_result_with_files_and_buttons(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()):
        interaction, status = await riff(
            fake, fake.member, "jazz saxophone", seed=1234, seed_image="backbeat"
        )
        ack = interaction.response
        assert ack is not None and ack.at - interaction.created_at < 3.0
        assert "jazz saxophone" in status.content
        assert status.custom_ids()[0].startswith("riff:cancel:")
        result = await fake.wait_for_message(is_result, timeout=15)
        assert result.channel_id == fake.general.id
        assert result.webhook_id is None  # posted with the bot token, not the interaction
        assert fake.member.mention in result.content
        assert [u.id for u in result.mentions] == [fake.member.id]
        names = sorted(result.files)
        assert names[0].endswith(".mp3") and names[1].endswith(".png")
        assert result.files[names[0]][:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")
        assert result.files[names[1]][:8] == b"\x89PNG\r\n\x1a\n"
        assert [cid.split(":")[1] for cid in result.custom_ids()] == RESULT_BUTTONS
        embed = result.embeds[0]
        assert {"name": "Seed", "value": "1234", "inline": True} in embed["fields"]
        assert {"name": "Seed image", "value": "backbeat", "inline": True} in embed["fields"]
        await fake.wait_until(lambda: "is ready" in status.content, what="status done")
        assert result.id and str(result.id) in status.content
        assert status.custom_ids() == []  # the Cancel button is gone
        await asyncio.sleep(0.3)
        assert len([m for m in fake.bot_messages if is_result(m)]) == 1


async def test_buttons_work_after_a_restart(fake_discord: FakeDiscord, bot_harness: BotHarness):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()):
        await riff(fake, fake.member, "lofi piano", seed=7)
        result = await fake.wait_for_message(is_result, timeout=15)
    async with bot_harness.running(FakeRenderer()) as bot:
        gen = generation_id(result)
        info = await fake.click(result, f"riff:info:{gen}", fake.member)
        reply = await fake.response_message(info)
        assert reply.ephemeral
        assert "/riff prompt:lofi piano" in reply.content and "seed:7" in reply.content

        fav = await fake.click(result, f"riff:fav:{gen}", fake.member)
        assert "Added" in (await fake.response_message(fav)).content
        unfav = await fake.click(result, f"riff:fav:{gen}", fake.member)
        assert "Removed" in (await fake.response_message(unfav)).content

        reroll = await fake.click(result, f"riff:reroll:{gen}", fake.member)
        await fake.response_message(reroll)
        second = await fake.wait_for_message(is_result, timeout=15)
        assert generation_id(second) != gen
        assert f"/channels/{fake.guild.id}/{fake.general.id}/{result.id}" in second.content
        assert "Seed" in str(second.embeds[0]) and '"7"' not in str(second.embeds[0])

        extend = await fake.click(second, f"riff:extend:{generation_id(second)}", fake.member)
        await fake.response_message(extend)
        third = await fake.wait_for_message(is_result, timeout=15)
        assert "Extend" in third.content
        long_mp3 = next(d for n, d in third.files.items() if n.endswith(".mp3"))
        short_mp3 = next(d for n, d in second.files.items() if n.endswith(".mp3"))
        assert len(long_mp3) > 1.5 * len(short_mp3)  # the clip was joined onto the track

        variation = await fake.click(third, f"riff:variation:{generation_id(third)}", fake.member)
        await fake.response_message(variation)
        fourth = await fake.wait_for_message(is_result, timeout=15)
        assert "Variation" in fourth.content and str(third.id) in fourth.content
        assert bot.queue.closed is False
    assert bot_harness.exit_codes == [0, 0]


async def test_delete_is_refused_for_someone_else(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    stranger = fake.add_user("stranger")
    fake.add_member(fake.guild, stranger)
    moderator = fake.add_user("moderator")
    fake.add_member(
        fake.guild,
        moderator,
        permissions=Perm.MANAGE_MESSAGES | Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES,
    )
    async with bot_harness.running(FakeRenderer()):
        await riff(fake, fake.member, "first")
        first = await fake.wait_for_message(is_result, timeout=15)
        await riff(fake, fake.member, "second")
        second = await fake.wait_for_message(is_result, timeout=15)

        refused = await fake.click(first, f"riff:delete:{generation_id(first)}", stranger)
        reply = await fake.response_message(refused)
        assert reply.ephemeral and "only" in reply.content.lower()
        assert not first.deleted

        own = await fake.click(first, f"riff:delete:{generation_id(first)}", fake.member)
        await fake.response_message(own)
        await fake.wait_for_deletion(first)

        moderated = await fake.click(second, f"riff:delete:{generation_id(second)}", moderator)
        await fake.response_message(moderated)
        await fake.wait_for_deletion(second)


async def test_burst_from_several_users_is_fair_and_complete(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    users = [fake.member]
    for name in ("ann", "bob"):
        user = fake.add_user(name)
        fake.add_member(fake.guild, user)
        users.append(user)
    renderer = FakeRenderer(step_s=0.1)
    renderer.gate.clear()
    async with bot_harness.running(renderer, MAX_BATCH_SIZE="1"):
        await riff(fake, users[0], "hold")
        await asyncio.to_thread(renderer.started.wait, 10)
        prompts = [("member", 1), ("member", 2), ("member", 3), ("ann", 1), ("bob", 1), ("ann", 2)]
        statuses = []
        for name, n in prompts:
            user = next(u for u in users if u.name == name)
            statuses.append(await riff(fake, user, f"{name} {n}"))
        # member already has "hold" running, so its third request is over the limit (3).
        refusal = statuses[2][1]
        assert refusal.ephemeral and "limit is 3" in refusal.content
        assert (
            "#1 in the queue" in statuses[0][1].content or "next in line" in statuses[0][1].content
        )
        renderer.gate.set()
        results = [await fake.wait_for_message(is_result, timeout=20) for _ in range(6)]
    order = [re.search(r"\*\*(.+?)\*\*", m.content).group(1) for m in results]
    assert order == ["hold", "member 1", "ann 1", "bob 1", "member 2", "ann 2"]
    assert [b[0] for b in renderer.batches] == order
    # Once a job time was measured, waiting statuses showed an ETA as a relative timestamp.
    edits = [edit.payload.get("content", "") for _, status in statuses for edit in status.edits]
    assert any(re.search(r"ready <t:\d+:R>", text) for text in edits), edits
    await asyncio.sleep(0.2)
    assert len([m for m in fake.bot_messages if is_result(m)]) == 6


async def test_cancel_while_queued_and_while_running(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    renderer = FakeRenderer(step_s=0.1)
    async with bot_harness.running(renderer, DEFAULT_STEPS="200", MAX_STEPS="200") as bot:
        _, running_status = await riff(fake, fake.member, "long one")
        await asyncio.to_thread(renderer.started.wait, 10)
        _, queued_status = await riff(fake, fake.member, "waiting one")
        assert "next in line" in queued_status.content

        click = await fake.click(queued_status, queued_status.custom_ids()[0], fake.member)
        await fake.interaction_response(click)
        await fake.wait_until(lambda: "Cancelled" in queued_status.content, what="cancel")
        assert queued_status.custom_ids() == []

        await fake.wait_until(
            lambda: len([e for e in running_status.edits if "step" in str(e.payload)]) >= 3,
            timeout=10,
            what="progress",
        )
        click = await fake.click(running_status, running_status.custom_ids()[0], fake.member)
        await fake.interaction_response(click)
        await fake.wait_until(lambda: "Cancelled" in running_status.content, what="cancel")
        await fake.wait_until(lambda: not bot.queue.running_jobs(), what="worker stopped")
        assert len(renderer.batches) == 1  # the queued one never rendered
        # Progress edits: no closer together than PROGRESS_INTERVAL_S, and only on change.
        progress = [e for e in running_status.edits if "step" in e.payload.get("content", "")]
        assert all(b.at - a.at >= 0.18 for a, b in itertools.pairwise(progress))
        texts = [e.payload["content"] for e in progress]
        assert all(a != b for a, b in itertools.pairwise(texts))
        await asyncio.sleep(0.3)
        assert not [m for m in fake.bot_messages if is_result(m)]


async def test_cancel_by_someone_else_is_refused(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    renderer = FakeRenderer()
    renderer.gate.clear()
    async with bot_harness.running(renderer):
        _, status = await riff(fake, fake.member, "mine")
        click = await fake.click(status, status.custom_ids()[0], fake.admin)  # admin may
        await fake.interaction_response(click)
        await fake.wait_until(lambda: "Cancelled by" in status.content, what="cancel")
        stranger = fake.add_user("stranger")
        fake.add_member(fake.guild, stranger)
        _, other = await riff(fake, fake.member, "again")
        click = await fake.click(other, other.custom_ids()[0], stranger)
        reply = await fake.response_message(click)
        assert reply.ephemeral and "Only" in reply.content
        renderer.gate.set()
        await fake.wait_for_message(is_result, timeout=15)


@pytest.mark.allow_discord_errors  # the failing job is logged with its traceback, as it should
async def test_a_failing_job_does_not_stop_the_queue(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()):
        _, bad = await riff(fake, fake.member, "boom")
        await riff(fake, fake.admin, "fine")
        result = await fake.wait_for_message(is_result, timeout=15)
        assert "fine" in result.content
        await fake.wait_until(lambda: "could not be generated" in bad.content, what="failure")
        assert "ZeroDivisionError" in bad.content and "Traceback" not in bad.content


async def test_no_permission_to_post_falls_back_to_a_followup(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()):
        fake.forbid_bot(fake.general, Perm.SEND_MESSAGES)
        interaction, _ = await riff(fake, fake.member, "quiet room")
        followup = await fake.wait_for_followup(interaction, timeout=15)
        assert is_result(followup) and fake.member.mention in followup.content


async def test_commands_sync_only_when_changed(fake_discord: FakeDiscord, bot_harness: BotHarness):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()):
        pass
    assert len(fake.command_syncs) == 1
    assert "riff" in fake.commands(fake.guild)
    async with bot_harness.running(FakeRenderer()):
        pass
    assert len(fake.command_syncs) == 1  # same definitions: no sync on restart
    async with bot_harness.running(FakeRenderer(), SYNC_COMMANDS="1"):
        pass
    assert len(fake.command_syncs) == 2  # on request


async def test_stopping_finishes_the_running_job_and_tells_the_queued(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    renderer = FakeRenderer(step_s=0.1)
    renderer.gate.clear()
    async with bot_harness.running(renderer) as bot:
        _, running = await riff(fake, fake.member, "running at shutdown")
        await asyncio.to_thread(renderer.started.wait, 10)
        _, waiting = await riff(fake, fake.admin, "queued at shutdown")
        stopping = asyncio.create_task(bot.close())  # what SIGTERM does (run_bot -> close)
        await asyncio.sleep(0.2)
        late = await fake.slash(fake.admin, "riff", {"prompt": "too late"})
        refusal = await fake.response_message(late)
        assert refusal.ephemeral and "restarting" in refusal.content
        renderer.gate.set()
        result = await fake.wait_for_message(is_result, timeout=15)
        assert "running at shutdown" in result.content
        await stopping
        assert "restarting" in waiting.content and "will continue" in waiting.content
        assert waiting.custom_ids() == [waiting.custom_ids()[0]]  # Cancel stays (after restart)
        assert "is ready" in running.content


async def test_the_mp3_is_made_to_fit_the_upload_limit(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    fake.limits.upload_limit = 60_000  # a 5 s MP3 at 192 kbps is about 120 kB
    async with bot_harness.running(FakeRenderer()):
        await riff(fake, fake.member, "squeezed")
        result = await fake.wait_for_message(is_result, timeout=15)
        mp3 = next(d for n, d in result.files.items() if n.endswith(".mp3"))
        assert 20_000 < len(mp3) <= 60_000
        info = await fake.click(result, f"riff:info:{generation_id(result)}", fake.member)
        kbps = int(re.search(r"MP3: (\d+) kbps", (await fake.response_message(info)).content)[1])
        assert kbps < 192


@pytest.mark.allow_discord_errors  # the refused login is logged at ERROR, as it should be
async def test_a_rejected_token_exits_1_with_a_fix(
    fake_discord: FakeDiscord, bot_harness: BotHarness, caplog
):
    from bot.__main__ import run_bot

    wrong = "MTIz.wrong.token-that-discord-refuses"
    code = await asyncio.wait_for(run_bot(bot_harness.settings(DISCORD_TOKEN=wrong)), timeout=60)
    assert code == 1
    assert "Reset Token" in caplog.text
