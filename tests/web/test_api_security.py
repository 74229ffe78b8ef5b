"""The web API's defences: keys on a non-loopback host (127.0.0.2 binds here but is not one of
WEB_HOST's loopback names), a capped body, checked types, seed_image_id never a path, and a
paused server's key answered 503. Each answer's status and JSON body are asserted."""

from __future__ import annotations

import aiohttp
import pytest

from bot.web.server import MAX_BODY_BYTES
from tests.fakediscord import FakeDiscord
from tests.fixtures.bot import BotHarness, FakeRenderer
from tests.fixtures.web import free_port

KEY = "k" * 20 + "-security-test"
OTHER_KEY = "o" * 20 + "-other-server"
OTHER_GUILD = 424242424242424242
NO_KEY = (
    "a valid API key is required: send it as 'Authorization: Bearer <key>' or in the path "
    "/k/<key>/run_inference/"
)


def body(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "alpha": 0.25,
        "num_inference_steps": 2,
        "seed_image_id": "og_beat",
        "mask_image_id": None,
        "start": {"prompt": "jazz saxophone", "seed": 738973, "denoising": 0.75, "guidance": 7.0},
        "end": {"prompt": "jazz saxophone", "seed": 738974, "denoising": 0.75, "guidance": 7.0},
    }
    data.update(changes)
    return data


async def test_the_api_refuses_what_it_must(fake_discord: FakeDiscord, bot_harness: BotHarness):
    port = free_port()
    keys = f"{KEY}:{fake_discord.guild.id},{OTHER_KEY}:{OTHER_GUILD}"
    async with (
        bot_harness.running(
            FakeRenderer(), WEB_PORT=str(port), WEB_HOST="127.0.0.2", WEB_API_KEYS=keys
        ) as bot,
        aiohttp.ClientSession() as http,
    ):
        base = f"http://127.0.0.2:{port}"
        url = f"{base}/run_inference/"
        auth = {"Authorization": f"Bearer {KEY}"}

        async def post(
            json: object = None, *, data: bytes | None = None, headers=auth, to: str = url
        ) -> tuple[int, dict]:
            async with http.post(to, json=json, data=data, headers=headers) as answer:
                assert answer.headers["Access-Control-Allow-Origin"] == "*"
                assert answer.headers["X-Content-Type-Options"] == "nosniff"
                return answer.status, await answer.json()

        # No key, a wrong key, a key in the path that is not one: the same 401.
        assert await post(body(), headers={}) == (401, {"error": NO_KEY})
        assert await post(body(), headers={"Authorization": "Bearer nope"}) == (
            401,
            {"error": NO_KEY},
        )
        assert await post(body(), headers={"Authorization": f"Bearer {KEY[:-1]}"}) == (
            401,
            {"error": NO_KEY},
        )
        assert await post(body(), headers={}, to=f"{base}/k/{KEY}x/run_inference/") == (
            401,
            {"error": NO_KEY},
        )
        # An oversized body.
        status, answer = await post(data=b'{"a": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}')
        assert (status, answer) == (413, {"error": f"the body is over {MAX_BODY_BYTES} bytes"})
        # Not JSON, not an object, wrong types, out of range, a missing field.
        assert await post(data=b"{nope") == (
            400,
            {"error": "the body must be JSON (InferenceInput)"},
        )
        assert await post([1, 2]) == (
            400,
            {"error": "the body must be a JSON object (InferenceInput)"},
        )
        assert await post(body(alpha="half")) == (400, {"error": "alpha must be a number"})
        assert await post(body(alpha=True)) == (400, {"error": "alpha must be a number"})
        assert await post(body(alpha=1.5)) == (
            400,
            {"error": "alpha must be in [0, 1] (got 1.5)"},
        )
        assert await post(body(num_inference_steps="50")) == (
            400,
            {"error": "num_inference_steps must be a whole number"},
        )
        assert await post(body(start={"prompt": "x", "seed": -1})) == (
            400,
            {"error": "start.seed must be in [0, 2147483647] (got -1)"},
        )
        assert await post(body(end={"prompt": 5, "seed": 1})) == (
            400,
            {"error": "end.prompt must be a string"},
        )
        no_start = body()
        del no_start["start"]
        assert await post(no_start) == (
            400,
            {"error": "start is required (an object with prompt, seed, denoising, guidance)"},
        )
        assert await post(body(mask_image_id="mask_beat_lines_80")) == (
            400,
            {"error": "mask_image_id is not supported (send null)"},
        )
        # A path in seed_image_id is an unknown id, answered with the known ones.
        known = ", ".join(sorted({*bot.services.seed_images.names(), "og_beat"}))
        for path in ("../../etc/passwd", "/etc/passwd", "og_beat/../x", 7):
            status, answer = await post(body(seed_image_id=path))
            assert status == 400
            if isinstance(path, str):
                assert answer == {
                    "error": f"seed_image_id {path!r} is not known; known ids: {known}"
                }
            else:
                assert answer == {"error": "seed_image_id must be a string"}
        # Another server's key while that server is paused; the first key's server is not.
        await bot.services.policy.update(OTHER_GUILD, paused=True, paused_by=1)
        status, answer = await post(body(), headers={"Authorization": f"Bearer {OTHER_KEY}"})
        assert status == 503
        assert answer["error"].startswith("Generation is paused on this server by its admins")
        status, answer = await post(body(), headers={}, to=f"{base}/k/{KEY}/run_inference/")
        assert status == 200, answer
        assert answer["image"].startswith("data:image/jpeg;base64,")


@pytest.mark.parametrize("host", ["127.0.0.1"])
async def test_loopback_needs_no_key_but_a_wrong_one_is_refused(
    fake_discord: FakeDiscord, bot_harness: BotHarness, host: str
):
    port = free_port()
    async with (
        bot_harness.running(FakeRenderer(), WEB_PORT=str(port), WEB_HOST=host),
        aiohttp.ClientSession() as http,
    ):
        url = f"http://{host}:{port}/run_inference/"
        async with http.post(url, json=body()) as answer:
            assert answer.status == 200, await answer.text()
            assert (await answer.json())["duration_s"] == pytest.approx(5.11, abs=0.01)
        async with http.post(url, json=body(), headers={"Authorization": "Bearer wrong"}) as a:
            assert (a.status, await a.json()) == (401, {"error": NO_KEY})
