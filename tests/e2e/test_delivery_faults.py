"""Durable delivery over the wire, against a fake Discord that fails the way Discord does: an
outage longer than discord.py's own retries, a post that lands but answers 502 (and a restart
past Discord's nonce window), a channel deleted while a job renders; then a seeded soak of
random faults on every route with an outage and a restart, counting what happened."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections import Counter

import pytest
from sqlalchemy import select

from bot.jobs import delivery as delivery_module
from bot.store import library
from bot.store.db import open_database
from bot.store.models import Job
from bot.ui import origins as origins_module
from tests.e2e.test_bot_discord import riff
from tests.fakediscord import FakeDiscord, Interaction, Message
from tests.fixtures.bot import BotHarness, FakeRenderer, is_result

POST_MESSAGE = "POST /channels/*/messages"


@pytest.fixture(autouse=True)
def quick_delivery_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery_module, "FIRST_RETRY_S", 0.2)
    monkeypatch.setattr(delivery_module, "MAX_RETRY_S", 1.0)


def results_for(fake: FakeDiscord, prompt: str) -> list[Message]:
    return [m for m in fake.bot_messages if is_result(m) and f"**{prompt}**" in m.content]


async def test_an_outage_longer_than_discord_py_retries_delays_the_result_not_loses_it(
    fake_discord: FakeDiscord, bot_harness: BotHarness, fast_retries: None
):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()) as bot:
        outage = fake.faults.outage(seconds=4, status=502, routes=POST_MESSAGE)
        _, status = await riff(fake, fake.member, "through the storm")
        await fake.wait_until(lambda: "waits for Discord" in status.content, timeout=15)
        assert results_for(fake, "through the storm") == []
        await fake.wait_until(lambda: not outage.active, timeout=15)
        await fake.wait_for_message(is_result, timeout=15)
        await fake.wait_until(lambda: "is ready" in status.content, timeout=15)
        assert len(results_for(fake, "through the storm")) == 1
        assert outage.lasted > 3.5 and outage.failed >= 5  # discord.py gave up at least once
        assert bot.services.deliveries.delivered == 1


async def test_a_post_that_landed_unanswered_is_not_posted_again_after_a_restart(
    fake_discord: FakeDiscord, bot_harness: BotHarness, fast_retries: None
):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()):
        # Every post lands but answers 502: the result is in the channel, the bot never knows.
        fake.faults.outage(seconds=120, status=502, routes=POST_MESSAGE, lands=True)
        _, status = await riff(fake, fake.member, "landed")
        await fake.wait_until(lambda: "waits for Discord" in status.content, timeout=15)
        assert len(results_for(fake, "landed")) == 1
    # Stopped while it waits: the job stays "rendered". Later than Discord's nonce window:
    # only the buttons in the channel's history can tell the bot it was posted.
    fake.faults.clear()
    fake.advance_time(600)
    async with bot_harness.running(FakeRenderer()):
        await fake.wait_until(lambda: "is ready" in status.content, timeout=20)
        await asyncio.sleep(0.5)
        assert len(results_for(fake, "landed")) == 1


async def test_a_deleted_channel_gets_the_result_by_followup_while_the_token_lives(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    renderer = FakeRenderer()
    renderer.gate.clear()
    async with bot_harness.running(renderer):
        interaction, _ = await riff(fake, fake.member, "answer here")
        await fake.wait_until(renderer.started.is_set, timeout=10)
        fake.delete_channel(fake.general)
        await fake.flush()
        renderer.gate.set()
        result = await fake.wait_for_followup(interaction, timeout=15)
        assert is_result(result) and "answer here" in result.content


async def test_a_deleted_channel_ends_the_retries_and_tells_the_owner_by_dm(
    fake_discord: FakeDiscord, bot_harness: BotHarness, monkeypatch: pytest.MonkeyPatch
):
    fake = fake_discord
    renderer = FakeRenderer()
    renderer.gate.clear()
    monkeypatch.setattr(origins_module, "WEBHOOK_LIFETIME_S", 0.3)  # past the token's life
    async with bot_harness.running(renderer) as bot:
        interaction, _ = await riff(fake, fake.member, "nowhere to go")
        await fake.wait_until(renderer.started.is_set, timeout=10)
        fake.expire_token(interaction)
        fake.delete_channel(fake.general)
        await fake.flush()
        await asyncio.sleep(0.4)
        renderer.gate.set()
        dm = fake.dm_channel(fake.member)
        told = await fake.wait_until(
            lambda: next((m for m in fake.messages_in(dm) if "/history" in m.content), None),
            timeout=15,
            what="a DM",
        )
        assert "nowhere to go" in told.content and "no longer exists" in told.content
        assert "could not be posted" in told.content
        assert results_for(fake, "nowhere to go") == []
        assert bot.services.deliveries.delivered == 0
        page = await library.load_page(bot.services.db, "hist", fake.member.id, 0)
        assert [g.prompt for g in page.entries] == ["nowhere to go"]  # kept for /history


SOAK_SEED = int(os.environ.get("SOAK_SEED", "11"))  # replay a failing soak with its seed
SOAK_RATE = float(os.environ.get("SOAK_RATE", "0.15"))  # the share of calls that fail


@pytest.mark.allow_discord_errors  # faults on every route: acknowledgements fail, and say so
async def test_soak_random_faults_an_outage_and_a_restart(
    fake_discord: FakeDiscord, bot_harness: BotHarness, fast_retries: None
):
    """Dozens of jobs from several users under random faults on every route (rate limits,
    5xx, writes that land unanswered, gateway closes and opcodes), one outage longer than
    discord.py's retries and one restart: each job is delivered once or its owner told."""
    fake = fake_discord
    started = time.monotonic()
    users = [fake.member, fake.admin, fake.add_user("ann"), fake.add_user("bob")]
    for user in users[2:]:
        fake.add_member(fake.guild, user)
    rng = random.Random(SOAK_SEED)
    outcome = SoakOutcome(fake)

    async def request(i: int) -> None:
        user = rng.choice(users)
        prompt = f"soak {i}"
        for _ in range(10):  # random gateway faults: the bot may be reconnecting just now
            with contextlib.suppress(TimeoutError):
                interaction = await fake.slash(user, "riff", {"prompt": prompt})
                break
        outcome.interactions[prompt] = interaction
        # An acknowledgement that failed leaves no status: the owner is told otherwise.
        with contextlib.suppress(TimeoutError):
            outcome.statuses[prompt] = await fake.response_message(interaction, timeout=20)

    renderer = FakeRenderer(step_s=0.005)
    options = {"MAX_JOBS_PER_USER": "50", "DEFAULT_STEPS": "3"}
    async with bot_harness.running(renderer, **options):
        fake.faults.random(rate=SOAK_RATE, seed=SOAK_SEED)
        for i in range(24):
            await request(i)
        outage = fake.faults.outage(seconds=3, status=502, routes=POST_MESSAGE)
        for i in range(24, 36):
            await request(i)
        await fake.wait_until(lambda: not outage.active, timeout=30)
    # The restart: what was queued or waiting for Discord continues.
    async with bot_harness.running(renderer, **options):
        for i in range(36, 48):
            await request(i)
        fake.faults.stop_random()
        try:
            await fake.wait_until(outcome.settled, timeout=120, what="every job settled")
        except TimeoutError:
            jobs = [(j.id, j.state, j.params["prompt"]) for j in await all_jobs(bot_harness)]
            raise AssertionError(f"unsettled: {outcome.unsettled()}; jobs: {jobs}") from None
        await asyncio.sleep(1.0)  # anything late would show up as a duplicate now

    counts = outcome.counts()
    faults = dict(sorted(Counter(fake.faults.counts).items()))
    print(
        f"\nsoak (seed {SOAK_SEED}, rate {SOAK_RATE}): {len(outcome.interactions)} jobs from "
        f"{len(users)} users in {time.monotonic() - started:.0f} s; faults injected: {faults}; "
        f"{counts}; longest outage: {outage.lasted:.1f} s"
    )
    assert counts["duplicated"] == 0 and counts["lost"] == 0
    assert counts["delivered once"] >= len(outcome.interactions) // 2
    assert sum(faults.values()) >= 20 and outage.lasted > 1.3  # past discord.py's retries
    assert time.monotonic() - started < 300


class SoakOutcome:
    """What happened to each soak request, read from the fake Discord."""

    FAILURE_WORDS = ("could not", "not taking new requests", "restarting", "try again")

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.interactions: dict[str, Interaction] = {}
        self.statuses: dict[str, Message] = {}

    def results(self, prompt: str) -> int:
        return len(results_for(self.fake, prompt))

    def told(self, prompt: str) -> bool:
        """Its owner was told why it did not arrive (its status, a followup, a DM, a message)."""
        status = self.statuses.get(prompt)
        texts = [m.content for m in self.fake.bot_messages if prompt in m.content]
        texts += [status.content] if status is not None else []
        return any(word in text for text in texts for word in self.FAILURE_WORDS)

    def unanswered(self, prompt: str) -> bool:
        """Never acknowledged: the interaction was lost with a dropped gateway socket, and
        Discord itself tells the user that the application did not respond."""
        interaction = self.interactions[prompt]
        return interaction.response is None and self.fake.now() > interaction.created_at + 3

    def unsettled(self) -> list[str]:
        return [
            p
            for p in self.interactions
            if not self.results(p) and not self.told(p) and not self.unanswered(p)
        ]

    def settled(self) -> bool:
        return not self.unsettled()

    def counts(self) -> dict[str, int]:
        prompts = list(self.interactions)
        counts = {
            "delivered once": sum(1 for p in prompts if self.results(p) == 1),
            "duplicated": sum(1 for p in prompts if self.results(p) > 1),
            "owner told": sum(1 for p in prompts if not self.results(p) and self.told(p)),
            "never received (Discord told the user)": sum(
                1
                for p in prompts
                if not self.results(p) and not self.told(p) and self.unanswered(p)
            ),
        }
        counts["lost"] = len(prompts) - sum(counts.values())
        return counts


async def all_jobs(bot_harness: BotHarness) -> list[Job]:
    db = await open_database(bot_harness.settings().effective_database_url)
    try:
        async with db.session() as session:
            return list(await session.scalars(select(Job).order_by(Job.id)))
    finally:
        await db.close()
