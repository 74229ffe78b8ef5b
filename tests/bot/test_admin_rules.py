"""The rules /admin sets, below Discord: prompt filter rules, the prompts and clips a request is
checked against, and a paused group in the queue. Over the wire: tests/e2e/test_admin.py."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.policy.prompt_filter import FilterRuleError, PromptFilter, compile_pattern


def test_filter_rules_are_vetted_and_matched_within_a_budget():
    with pytest.raises(FilterRuleError, match="empty prompt"):
        compile_pattern("x*")
    with pytest.raises(FilterRuleError, match="at most"):
        compile_pattern("a" * 201)
    rules = PromptFilter.build(["ass"], [r"^bad\b"])
    assert rules.find({"prompt": "bass and drums"}) is None
    assert rules.find({"prompt": "ASS"}).rule == "word"
    assert rules.find({"prompt": "Bad thing"}).detail == r"^bad\b"
    # A stored pattern that backtracks on real input is cut off by the budget (fail closed).
    slow = PromptFilter.build([], [r"(a|aa)+b"])
    from bot.policy.prompt_filter import FilterTimeout

    started = time.monotonic()
    with pytest.raises(FilterTimeout):
        slow.find({"prompt": "a" * 80 + "!"}, budget_s=0.05)
    assert time.monotonic() - started < 1.0


def test_every_prompt_of_a_request_is_checked_and_clips_counted():
    """Blend-like tasks carry a second prompt and their own clip count; both are seen."""
    from dataclasses import dataclass

    from bot.engine.tasks import ExtendSource, RenderTask
    from bot.params import RiffParams
    from bot.policy.rules import prompt_texts

    @dataclass(frozen=True)
    class TwoPromptTask(RenderTask):
        end_prompt: str = ""
        clips: int = 4

        @property
        def clip_count(self) -> int:
            return self.clips

        def other_prompts(self) -> dict[str, str]:
            return {"end prompt": self.end_prompt}

    params = RiffParams(prompt="calm piano", negative_prompt="noise", duration_s=12.0)
    task = TwoPromptTask(params=params, end_prompt="uk drill")
    texts = prompt_texts(params, task, {"blend": {"prompt_b": "uk drill", "seed_b": 3}})
    assert texts == {"prompt": "calm piano", "negative prompt": "noise", "end prompt": "uk drill"}
    assert PromptFilter.build(["drill"], []).find(texts).field == "end prompt"
    assert task.clip_count == 4
    assert RenderTask(params=params).clip_count == 3  # 12 s = 3 clips of 5.11 s
    extend = ExtendSource(master_path=Path(), image_path=Path(), clips=2)
    assert RenderTask(params=params, extend=extend).clip_count == 3


async def test_queue_pause_holds_only_that_group():
    """The queue skips a paused guild's jobs (they keep their place) and runs everyone else's."""
    import threading

    from bot.engine.queue import GenerationQueue

    ran: list[str] = []
    gate = threading.Event()

    def render(payloads, on_step, should_cancel):
        gate.wait(10)
        ran.extend(payloads)
        return list(payloads)

    queue = GenerationQueue(render, max_batch_size=1)
    queue.start()
    try:
        queue.pause(1)
        held = queue.submit(10, "guild 1", group=1)
        other = queue.submit(11, "guild 2", group=2)
        dm = queue.submit(12, "dm", group=None)
        gate.set()
        assert await asyncio.wait_for(other.wait(), 5) == "guild 2"
        assert await asyncio.wait_for(dm.wait(), 5) == "dm"
        await asyncio.sleep(0.1)
        assert not held.done and queue.position(held) == 1
        queue.resume(1)
        assert await asyncio.wait_for(held.wait(), 5) == "guild 1"
        assert ran == ["guild 2", "dm", "guild 1"]
    finally:
        await queue.shutdown(1)
