"""Remix over the fake Discord: the four ways in (reply, /remix, context menu, Remix button)
all end in the same job and post like a riff, saying which part of the input was used.

The bot runs the real riffusion_core.tracks.remix on FakePipe (tests/fixtures/mixing.py).
"""

from __future__ import annotations

import pytest

from tests.fakediscord import FakeDiscord, Message
from tests.fixtures.audio import write_audio_bytes
from tests.fixtures.bot import BotHarness, generation_id
from tests.fixtures.mixing import FakePipe, is_result, mp3_seconds, png_of

pytestmark = pytest.mark.timeout(120)


def remix_button(message: Message) -> str:
    return next(c for c in message.custom_ids() if c.startswith("riff:remix:"))


async def a_result(fake: FakeDiscord, prompt: str = "lofi piano") -> Message:
    await fake.slash(fake.member, "riff", {"prompt": prompt, "seed": 3})
    return await fake.wait_for_message(is_result, timeout=30)


def assert_remix_result(message: Message, prompt: str, used: str, seconds: float) -> None:
    assert "Remix" in message.content and f"**{prompt}**" in message.content
    assert used in message.content
    assert sorted(n.rsplit(".", 1)[1] for n in message.files) == ["mp3", "png"]
    assert png_of(message).height == 512
    assert mp3_seconds(message) == pytest.approx(seconds, abs=0.1)
    gen = generation_id(message)
    assert message.custom_ids() == [
        f"riff:remix:{gen}",
        f"riff:fav:{gen}",
        f"mix:info:{gen}",
        f"riff:delete:{gen}",
    ]


async def test_slash_remix_uses_the_upload_and_says_how_much(
    fake_discord: FakeDiscord, bot_harness: BotHarness, pipe_renderer, fake_pipe: FakePipe
):
    fake = fake_discord
    wav = write_audio_bytes("wav", 3.0, rate=22050)
    async with bot_harness.running(pipe_renderer):
        interaction = await fake.slash(
            fake.member,
            "remix",
            {"audio": ("my loop.wav", wav), "prompt": "dub techno", "strength": 0.5, "seed": 9},
        )
        status = await fake.response_message(interaction, timeout=15)
        assert status.ephemeral and "Remix" in status.content
        result = await fake.wait_for_message(is_result, timeout=30)
        assert_remix_result(result, "dub techno", "used all of 0:03", 3.0)
        assert fake.member.mention in result.content and not result.ephemeral
        assert {r.start.prompt for r in fake_pipe.requests} == {"dub techno"}
        assert {r.start.seed for r in fake_pipe.requests} == {9}
        assert {r.denoising for r in fake_pipe.requests} == {0.5}
        assert all(r.seed_image for r in fake_pipe.requests)  # img2img of the upload's windows
        await fake.wait_until(lambda: "is ready" in status.content, what="status done")

        info = await fake.click(result, f"mix:info:{generation_id(result)}", fake.member)
        text = (await fake.response_message(info)).content
        assert "/remix audio:<your file> prompt:dub techno strength:0.5 seed:9" in text
    # nothing of the upload is left behind, and nothing under the user's filename
    uploads = bot_harness.data_dir / "uploads"
    assert not uploads.exists() or not list(uploads.iterdir())
    assert not list(bot_harness.data_dir.rglob("my loop*"))


async def test_longer_input_uses_the_first_part_and_says_so(
    fake_discord: FakeDiscord, bot_harness: BotHarness, pipe_renderer
):
    fake = fake_discord
    ogg = write_audio_bytes("ogg", 9.0, channels=2)
    async with bot_harness.running(pipe_renderer, MAX_REMIX_INPUT_S="6"):
        await fake.slash(fake.member, "remix", {"audio": ("long.ogg", ogg), "prompt": "harp"})
        result = await fake.wait_for_message(is_result, timeout=30)
        assert_remix_result(result, "harp", "used 0:00-0:06 of 0:09", 6.0)


async def test_reply_to_a_result_remixes_in_its_style(
    fake_discord: FakeDiscord, bot_harness: BotHarness, pipe_renderer, fake_pipe: FakePipe
):
    fake = fake_discord
    mp3 = write_audio_bytes("mp3", 2.0)
    async with bot_harness.running(pipe_renderer):
        riff = await a_result(fake, "lofi piano")
        fake_pipe.requests.clear()
        # No text: the result's prompt is the style.
        await fake.user_message(
            fake.member, content="", reply_to=riff, attachments=[("take1.mp3", mp3)]
        )
        status = await fake.wait_for_message(lambda m: "Remix" in m.content, timeout=15)
        assert status.reference and int(status.reference["message_id"]) != riff.id
        first = await fake.wait_for_message(is_result, timeout=30)
        assert_remix_result(first, "lofi piano", "used all of 0:02", 2.0)
        assert f"/{riff.id}" in first.content  # links the result it was made from
        # Text in the reply overrides the style.
        await fake.user_message(
            fake.admin, content="sea shanty", reply_to=first, attachments=[("take2.mp3", mp3)]
        )
        second = await fake.wait_for_message(is_result, timeout=30)
        assert_remix_result(second, "sea shanty", "used all of 0:02", 2.0)
        assert fake.admin.mention in second.content


async def test_reply_without_a_readable_attachment_gets_the_hint(
    fake_discord: FakeDiscord, bot_harness: BotHarness, pipe_renderer
):
    fake = fake_discord
    async with bot_harness.running(pipe_renderer):
        riff = await a_result(fake)
        # "ping on reply" off and no message content intent: the bot sees an empty message.
        reply = await fake.user_message(
            fake.member,
            content="remix this please",
            reply_to=riff,
            ping_on_reply=False,
            attachments=[("x.mp3", write_audio_bytes("mp3", 1.0))],
        )
        hint = await fake.wait_for_message(lambda m: "/remix" in m.content, timeout=15)
        assert "Remix with Riffusion" in hint.content
        assert hint.reference and int(hint.reference["message_id"]) == reply.id
        # A readable reply whose file is not audio is told so.
        picture = await fake.user_message(
            fake.member, reply_to=riff, attachments=[("cover.png", b"\x89PNG\r\n\x1a\n" * 8)]
        )
        refusal = await fake.wait_for_message(lambda m: "not an audio file" in m.content)
        assert int(refusal.reference["message_id"]) == picture.id
        # A reply to someone else's message is none of the bot's business.
        other = await fake.user_message(fake.admin, content="hello")
        await fake.user_message(fake.member, content="hi", reply_to=other)
        await fake.flush()
        assert not [
            m
            for m in fake.bot_messages
            if m.reference and int(m.reference["message_id"]) not in (reply.id, picture.id)
        ]


async def test_context_menu_asks_for_the_style(
    fake_discord: FakeDiscord, bot_harness: BotHarness, pipe_renderer, fake_pipe: FakePipe
):
    fake = fake_discord
    flac = write_audio_bytes("flac", 2.5)
    async with bot_harness.running(pipe_renderer):
        post = await fake.user_message(
            fake.admin, content="my demo", attachments=[("demo.flac", flac)]
        )
        opened = await fake.message_command(post, "Remix with Riffusion", fake.member)
        assert (await fake.interaction_response(opened)).type == 9  # a modal
        submitted = await fake.submit_modal(
            opened, {"remix:prompt": "ambient pads", "remix:strength": "0.7"}
        )
        await fake.response_message(submitted, timeout=15)
        result = await fake.wait_for_message(is_result, timeout=30)
        assert_remix_result(result, "ambient pads", "used all of 0:02", 2.5)
        assert fake.member.mention in result.content
        assert {r.denoising for r in fake_pipe.requests} == {0.7}

        text_only = await fake.user_message(fake.admin, content="no file here")
        refused = await fake.message_command(text_only, "Remix with Riffusion", fake.member)
        reply = await fake.response_message(refused)
        assert reply.ephemeral and "no audio file" in reply.content


async def test_remix_button_opens_an_upload_modal(
    fake_discord: FakeDiscord, bot_harness: BotHarness, pipe_renderer, fake_pipe: FakePipe
):
    fake = fake_discord
    m4a = write_audio_bytes("m4a", 1.5)
    async with bot_harness.running(pipe_renderer):
        riff = await a_result(fake, "bossa nova")
        fake_pipe.requests.clear()
        opened = await fake.click(riff, remix_button(riff), fake.admin)
        assert (await fake.interaction_response(opened)).type == 9
        assert "Remix" in opened.modal["title"]
        submitted = await fake.submit_modal(
            opened,
            {"remix:file": [("song.m4a", m4a)], "remix:prompt": "", "remix:strength": "0.8"},
        )
        await fake.response_message(submitted, timeout=15)
        result = await fake.wait_for_message(is_result, timeout=30)
        assert_remix_result(result, "bossa nova", "used all of 0:02", 1.5)
        assert f"/{riff.id}" in result.content and fake.admin.mention in result.content
        assert {r.denoising for r in fake_pipe.requests} == {0.8}
        # The button on the remix result opens the same modal.
        again = await fake.click(result, remix_button(result), fake.member)
        assert (await fake.interaction_response(again)).type == 9


async def test_remixes_share_the_riff_queue_limits(
    fake_discord: FakeDiscord, bot_harness: BotHarness, pipe_renderer, fake_pipe: FakePipe
):
    fake = fake_discord
    fake_pipe.step_s = 0.05
    wav = write_audio_bytes("wav", 1.0)
    async with bot_harness.running(pipe_renderer, MAX_JOBS_PER_USER="1", DEFAULT_STEPS="40"):
        await fake.slash(fake.member, "riff", {"prompt": "busy"})
        interaction = await fake.slash(
            fake.member, "remix", {"audio": ("a.wav", wav), "prompt": "too many"}
        )
        refusal = await fake.response_message(interaction, timeout=15)
        assert refusal.ephemeral and "the limit is 1" in refusal.content
        riff = await fake.wait_for_message(is_result, timeout=30)
        # A reply is refused in the channel, the same way. The riff holds the user's one slot
        # for as long as the reply takes, however slow the machine (its steps speed up below).
        fake_pipe.step_s = 1.0
        await fake.slash(fake.member, "riff", {"prompt": "busy again"})
        await fake.user_message(fake.member, reply_to=riff, attachments=[("b.wav", wav)])
        said = await fake.wait_for_message(
            lambda m: "the limit is 1" in m.content and not m.ephemeral, timeout=15
        )
        assert said.reference is not None
        fake_pipe.step_s = 0.0


async def test_reply_to_a_favourite_posted_again_remixes_it(
    fake_discord: FakeDiscord, bot_harness: BotHarness, pipe_renderer, fake_pipe: FakePipe
):
    """A re-post from /favorites is a new message the database never recorded: the result is
    found through the generation id its buttons carry."""
    fake = fake_discord
    mp3 = write_audio_bytes("mp3", 2.0)
    async with bot_harness.running(pipe_renderer):
        riff = await a_result(fake, "harp arpeggios")
        gen = generation_id(riff)
        await fake.response_message(await fake.click(riff, f"riff:fav:{gen}", fake.member))
        page = await fake.response_message(await fake.slash(fake.member, "favorites"))
        post = next(c for c in page.custom_ids() if c.startswith("lib:post:"))
        await fake.response_message(await fake.click(page, post, fake.member))
        shared = await fake.wait_for_message(lambda m: "shared #" in m.content, timeout=10)
        await fake.user_message(
            fake.member, content="", reply_to=shared, attachments=[("take.mp3", mp3)]
        )
        remixed = await fake.wait_for_message(
            lambda m: is_result(m) and m.id not in (riff.id, shared.id), timeout=30
        )
        assert_remix_result(remixed, "harp arpeggios", "used all of 0:02", 2.0)
