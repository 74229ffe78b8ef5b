"""render_clips: the pipeline's images turned into clips with audio, with the bot's progress
and cancel hooks mapped onto the pipeline's step callback and interrupt (tiny random model)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from riffusion_core.clips import render_clips
from riffusion_core.converter import get_converter
from riffusion_core.errors import GenerationCancelled
from riffusion_core.generation import GenerationRequest, PromptInput
from riffusion_core.image import save_image
from riffusion_core.spectrogram_params import SpectrogramParams

WIDTH = 64
STEPS = 4


def request(prompt="lofi hip hop beat", seed=1, steps=STEPS, width=WIDTH):
    return GenerationRequest(PromptInput(prompt, seed=seed), num_inference_steps=steps, width=width)


@pytest.fixture
def unet_calls(tiny_pipeline):
    """Counts UNet forward passes."""
    calls = []
    handle = tiny_pipeline.unet.register_forward_hook(lambda *_: calls.append(1))
    yield calls
    handle.remove()


def test_text_to_audio_image_and_record(tiny_pipeline):
    (result,) = render_clips(tiny_pipeline, [request(width=512)])
    assert result.image.size == (512, 512) and result.image.mode == "RGB"
    assert result.audio.frame_count() == 441 * 511 and result.seeds == (1,)
    assert result.duration_s == pytest.approx(5.11)
    assert result.unet_steps == STEPS + 1  # PNDM with skip_prk_steps repeats one timestep
    assert result.elapsed_s > 0 and result.batch_size == 1
    record = json.loads(json.dumps(result.to_dict()))
    assert record["parameters"]["scheduler"] == "pndm"
    assert record["parameters"]["model_id"] == tiny_pipeline.model_id
    assert record["parameters"]["device"] == "cpu"
    assert record["parameters"]["start"]["prompt"] == "lofi hip hop beat"
    assert np.asarray(result.image, dtype=np.int16).std() > 1  # not a blank image


def test_audio_is_decoded_from_the_image(tiny_pipeline):
    (result,) = render_clips(tiny_pipeline, [request(width=128)])
    audio = result.audio
    assert audio.frame_rate == 44100 and audio.channels == 1 and audio.sample_width == 2
    assert audio.frame_count() == 441 * 127
    assert result.duration_s == pytest.approx(441 * 127 / 44100, abs=1e-3)
    assert audio.max > 0
    # The image is the pipeline's own (same request, same pixels), and the PNG decodes to the
    # same audio: the phase is seeded by the clip's start seed.
    [image] = tiny_pipeline([request(width=128)]).images
    assert np.array_equal(np.asarray(image), np.asarray(result.image))
    assert SpectrogramParams.from_exif(result.image.getexif()) == SpectrogramParams()
    png = io.BytesIO()
    save_image(result.image, png)
    again = get_converter(SpectrogramParams(), "cpu").audio_from_spectrogram_image(
        Image.open(png), seed=result.seeds[0]
    )
    assert again.raw_data == audio.raw_data


def test_results_keep_the_request_order_and_batches(tiny_pipeline):
    requests = [request(seed=1), request(seed=2, width=72), request(seed=3)]
    results = render_clips(tiny_pipeline, requests)
    assert [r.request for r in results] == requests
    assert [r.batch_size for r in results] == [2, 1, 2]
    assert [r.audio.frame_count() for r in results] == [441 * 63, 441 * 71, 441 * 63]
    assert results[0].elapsed_s == results[2].elapsed_s  # one batch, one wall time


def test_progress_counts_every_unet_pass(tiny_pipeline, unet_calls):
    seen = []
    render_clips(
        tiny_pipeline, [request(), request(width=72)], on_step=lambda s, t: seen.append((s, t))
    )
    total = 2 * (STEPS + 1)  # two widths -> two batches
    assert seen == [(i, total) for i in range(1, total + 1)]
    assert len(unet_calls) == total


def test_cancel_within_one_step(tiny_pipeline, unet_calls):
    done = []

    def should_cancel():
        return len(done) >= 2

    with pytest.raises(GenerationCancelled):
        render_clips(
            tiny_pipeline,
            [request(steps=10)],
            on_step=lambda s, t: done.append(s),
            should_cancel=should_cancel,
        )
    assert len(unet_calls) == 2


def test_cancel_before_start(tiny_pipeline, unet_calls):
    with pytest.raises(GenerationCancelled):
        render_clips(tiny_pipeline, [request()], should_cancel=lambda: True)
    assert unet_calls == []


def test_cancel_before_the_audio(tiny_pipeline, monkeypatch):
    from riffusion_core import clips

    asked = []
    decoded = []
    monkeypatch.setattr(clips, "clip_audio", lambda *args: decoded.append(args))
    steps = STEPS + 1

    def cancel_once_rendered():  # polled after each of the steps, then before each clip's audio
        asked.append(1)
        return len(asked) > steps

    with pytest.raises(GenerationCancelled):
        render_clips(
            tiny_pipeline, [request(), request(seed=2)], should_cancel=cancel_once_rendered
        )
    assert decoded == []


def test_empty(tiny_pipeline, unet_calls):
    assert render_clips(tiny_pipeline, []) == []
    assert unet_calls == []
