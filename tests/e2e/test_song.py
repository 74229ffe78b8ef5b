"""/song over the fake Discord with the tiny model: a 2-minute song of five sections arrives as
one result of the right length, its sections at the planned times, the repeated chorus made
from the same seeds; one clip per queue turn, so another user's /riff is not held up."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from pydub import AudioSegment
from sqlalchemy import select

from bot.store.models import Generation, Job
from cogs.riff import in_tempo
from riffusion_core.songs import SongSpec, plan_song
from tests.fakediscord import FakeDiscord
from tests.fixtures.bot import BotHarness, is_result

STRUCTURE = (
    "intro: ambient pads | verse: lofi hip hop beat | chorus: jazz saxophone solo | verse | chorus"
)


def samples(audio: AudioSegment) -> np.ndarray:
    return np.array(audio.get_array_of_samples(), dtype=np.float64).reshape(-1, audio.channels)


@pytest.mark.timeout(600)
async def test_a_two_minute_song_arrives_whole_with_its_chorus_twice(
    fake_discord: FakeDiscord, bot_harness: BotHarness, tiny_model_dir
):
    fake = fake_discord
    other = fake.add_user("listener")
    fake.add_member(fake.guild, other)
    async with bot_harness.running(
        RIFFUSION_MODEL=str(tiny_model_dir), RIFFUSION_DEVICE="cpu", DEFAULT_STEPS="2"
    ) as bot:
        song = await fake.slash(
            fake.member,
            "song",
            {"structure": STRUCTURE, "bpm": 128, "length": 120, "seed": 7},
        )
        status = await fake.response_message(song)
        await fake.wait_until(lambda: "section" in status.content, timeout=120, what="progress")
        # Someone else's riff while the song is under way: it goes between two of its clips.
        riff = await fake.slash(other, "riff", {"prompt": "a short riff", "steps": 2})
        await fake.response_message(riff)
        riff_result = await fake.wait_for_message(
            lambda m: is_result(m) and "a short riff" in m.content, timeout=120
        )
        assert not any(is_result(m) and "Song" in m.content for m in fake.bot_messages)
        result = await fake.wait_for_message(
            lambda m: is_result(m) and "Song" in m.content, timeout=500
        )
        assert riff_result.id < result.id

        async def song_job_state() -> str:
            async with bot.services.db.session() as session:
                return str(await session.scalar(select(Job.state).where(Job.kind == "song")))

        for _ in range(100):
            if await song_job_state() == "delivered":
                break
            await asyncio.sleep(0.05)
        assert await song_job_state() == "delivered"
        async with bot.services.db.session() as session:
            generation = (
                await session.scalars(select(Generation).where(Generation.kind == "song"))
            ).one()
        spec = SongSpec.from_json(generation.extra["song"])
        plan = plan_song(spec)
        master = AudioSegment.from_wav(
            io.BytesIO(bot.services.files.read_bytes(generation.extra["master"]))
        )

    # The right length, to the sample of the plan (within 1 % of what was asked for).
    assert int(master.frame_count()) == plan.total_samples
    assert abs(master.frame_count() / 44100 - 120) <= 1.2
    # Five sections at their planned times; the chorus twice, from the same seeds, so the two
    # choruses are the same music where they start.
    labels = [s.label for s in plan.sections]
    assert labels == ["intro", "verse", "chorus", "verse", "chorus"]
    choruses = [s for s in plan.sections if s.label == "chorus"]
    seeds = [
        [c.start.seed for c in plan.clips[s.first_clip : s.first_clip + s.clip_count]]
        for s in choruses
    ]
    assert seeds[0] == seeds[1][: len(seeds[0])]
    audio = samples(master)
    span = int(plan.grid.clip_samples)  # the first clip of each chorus
    first, second = (audio[s.start_sample + 4410 : s.start_sample + span] for s in choruses)
    correlation = np.corrcoef(first.ravel(), second.ravel())[0, 1]
    assert correlation > 0.95, correlation
    # A chorus is not the verse: the sections really differ.
    verse = next(s for s in plan.sections if s.label == "verse")
    other_part = audio[verse.start_sample + 4410 : verse.start_sample + span]
    assert abs(np.corrcoef(first.ravel(), other_part.ravel())[0, 1]) < 0.9


@pytest.mark.timeout(600)
async def test_a_song_resumes_where_it_was_after_a_restart(
    fake_discord: FakeDiscord, bot_harness: BotHarness, tiny_model_dir
):
    fake = fake_discord
    env = {"RIFFUSION_MODEL": str(tiny_model_dir), "RIFFUSION_DEVICE": "cpu", "DEFAULT_STEPS": "2"}
    async with bot_harness.running(**env):
        song = await fake.slash(
            fake.member, "song", {"form": "short", "prompt": "lofi", "bpm": 100, "length": 30}
        )
        status = await fake.response_message(song)
        await fake.wait_until(lambda: "clip 3/" in status.content, timeout=120, what="two clips")
        folder = next((bot_harness.data_dir / "jobs").glob("*/song"))
        kept = {p.name: p.stat().st_mtime_ns for p in folder.glob("clip-*.wav")}
        assert len(kept) >= 2
    assert "continue" in status.content  # the status says the song goes on after the restart
    async with bot_harness.running(**env):
        for _ in range(200):  # the clips made before the stop are not made again
            if not folder.exists():
                break
            now = {p.name: p.stat().st_mtime_ns for p in folder.glob("clip-*.wav")}
            assert all(now.get(name, mtime) == mtime for name, mtime in kept.items())
            if len(now) > len(kept):
                break
            await asyncio.sleep(0.05)
        result = await fake.wait_for_message(
            lambda m: is_result(m) and "Song" in m.content, timeout=300
        )
        await fake.wait_until(lambda: "is ready" in status.content, timeout=30)
    assert result.attachments and not folder.exists()  # the clips went when the song was done


async def test_riff_with_bpm_holds_whole_bars_from_the_tempo_loop(
    fake_discord: FakeDiscord, bot_harness: BotHarness, tiny_model_dir
):
    fake = fake_discord
    env = {"RIFFUSION_MODEL": str(tiny_model_dir), "RIFFUSION_DEVICE": "cpu", "DEFAULT_STEPS": "2"}
    async with bot_harness.running(**env) as bot:
        riff = await fake.slash(
            fake.member,
            "riff",
            {"prompt": "drums", "bpm": 128, "duration": 12, "seed_image": "half_time"},
        )
        await fake.response_message(riff)
        await fake.wait_for_message(is_result, timeout=120)
        async with bot.services.db.session() as session:
            generation = (await session.scalars(select(Generation))).one()
        master = AudioSegment.from_wav(
            io.BytesIO(bot.services.files.read_bytes(generation.extra["master"]))
        )
        # 12 s at 128 BPM is 6.4 bars: 6 bars, to the sample, from the loop at that tempo.
        assert int(master.frame_count()) == round(6 * 4 * 60 * 44100 / 128)
        assert generation.seed_image == "half_time@128bpm" and generation.width == 568


def test_bpm_goes_with_the_bundled_loops_only_and_stays_within_the_longest_riff():
    assert in_tempo(None, 100.0, 10.0, 30.0) == ("backbeat@100bpm", 488, 9.6)
    refusal = in_tempo("my_field_recording", 100.0, 10.0, 30.0)
    assert isinstance(refusal, str) and "a tempo of its own" in refusal
    # 30 s at 70 BPM is 8.75 bars: 9 bars (30.9 s) would pass the longest riff, so 8 (27.4 s).
    assert in_tempo("backbeat", 70.0, 30.0, 30.0) == ("backbeat@70bpm", 448, 27.429)
    assert in_tempo("backbeat", 70.0, 30.0, 60.0)[2] == 30.857


@pytest.mark.timeout(300)
async def test_new_chorus_changes_the_chorus_only_and_extend_adds_one(
    fake_discord: FakeDiscord, bot_harness: BotHarness, tiny_model_dir
):
    fake = fake_discord
    env = {"RIFFUSION_MODEL": str(tiny_model_dir), "RIFFUSION_DEVICE": "cpu", "DEFAULT_STEPS": "2"}
    structure = "intro: ambient pads | chorus: jazz saxophone | outro: ambient pads"
    async with bot_harness.running(**env) as bot:
        song = await fake.slash(
            fake.member, "song", {"structure": structure, "bpm": 128, "length": 30, "seed": 3}
        )
        await fake.response_message(song)
        first = await fake.wait_for_message(
            lambda m: is_result(m) and "Song" in m.content, timeout=120
        )
        new_section = next(c for c in first.custom_ids() if c.startswith("song:new:"))
        click = await fake.click(first, new_section, fake.member, values=["chorus"])
        await fake.interaction_response(click)
        second = await fake.wait_for_message(
            lambda m: is_result(m) and "Song" in m.content and m.id != first.id, timeout=120
        )
        extend = next(c for c in second.custom_ids() if c.startswith("song:extend:"))
        click = await fake.click(second, extend, fake.member)
        await fake.interaction_response(click)

        async def song_jobs() -> list[Job]:
            async with bot.services.db.session() as session:
                return list(await session.scalars(select(Job).where(Job.kind == "song")))

        for _ in range(100):  # the extended song is queued (it need not be waited for)
            if len(await song_jobs()) == 3:
                break
            await asyncio.sleep(0.05)
        longer = SongSpec.from_json(max(await song_jobs(), key=lambda j: j.id).task["song"])
        async with bot.services.db.session() as session:
            made = list(
                await session.scalars(
                    select(Generation).where(Generation.kind == "song").order_by(Generation.id)
                )
            )
        specs = [SongSpec.from_json(g.extra["song"]) for g in made] + [longer]
        masters = [
            samples(
                AudioSegment.from_wav(io.BytesIO(bot.services.files.read_bytes(g.extra["master"])))
            )
            for g in made
        ]
    assert specs[1].reseed == (("chorus", 1),) and made[1].parent_id == made[0].id
    plan = plan_song(specs[0])
    intro, chorus = plan.sections[0], plan.sections[1]
    # The intro kept its seeds (the same music); the chorus has new ones.
    span = slice(intro.start_sample, chorus.start_sample - 4410)
    assert np.corrcoef(masters[0][span].ravel(), masters[1][span].ravel())[0, 1] > 0.99
    later = slice(chorus.start_sample + 4410, chorus.start_sample + int(plan.grid.clip_samples))
    assert np.corrcoef(masters[0][later].ravel(), masters[1][later].ravel())[0, 1] < 0.9
    # Extend: one section more (the chorus again, before the outro), and longer.
    assert [s.label for s in specs[2].sections] == ["intro", "chorus", "chorus", "outro"]
    assert specs[2].length_s > specs[1].length_s
