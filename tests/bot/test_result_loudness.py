"""Posted results at the target loudness (issue 12): TARGET_RMS_DBFS and encode_result."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image

from bot.config import SettingsError, load_settings
from bot.jobs.result_files import encode_result
from riffusion_core.audio import samples_to_segment
from riffusion_core.loudness import LoudnessSettings, rms_dbfs, true_peak_dbfs

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.fake-token-for-tests_0123456789abcdef"


def decoded(mp3: bytes) -> np.ndarray:
    with av.open(io.BytesIO(mp3)) as container:
        stream = container.streams.audio[0]
        return np.concatenate([f.to_ndarray() for f in container.decode(stream)], axis=-1)


def beat() -> np.ndarray:
    """Two seconds of a tone with a click every half second: a crest factor of about 17 dB, so
    peak normalisation alone leaves it far below the target."""
    t = np.arange(2 * 44100) / 44100
    x = 0.15 * np.sin(2 * np.pi * 220 * t)
    x[::22050] = 1.0
    return x[np.newaxis] * 32767


def test_target_rms_setting_defaults_to_the_reference_and_is_checked():
    assert load_settings({"DISCORD_TOKEN": TOKEN}, dotenv_path=None).target_rms_dbfs == -12.0
    env = {"DISCORD_TOKEN": TOKEN, "TARGET_RMS_DBFS": "-16"}
    assert load_settings(env, dotenv_path=None).target_rms_dbfs == -16.0
    for bad in ("loud", "0", "-90"):
        with pytest.raises(SettingsError, match="TARGET_RMS_DBFS"):
            load_settings({**env, "TARGET_RMS_DBFS": bad}, dotenv_path=None)


@pytest.mark.parametrize("target", [-12.0, -16.0])
def test_posted_mp3_is_at_the_target_and_under_the_ceiling(target):
    audio = samples_to_segment(beat(), normalize=True)  # what the converter hands over
    image = Image.new("RGB", (64, 512))
    encoded = encode_result(image, audio, 8 * 1024 * 1024, LoudnessSettings(target_rms_dbfs=target))
    heard = decoded(encoded.mp3)
    assert rms_dbfs(heard) == pytest.approx(target, abs=1.0)
    assert true_peak_dbfs(heard) <= -1.0
    assert rms_dbfs(heard) > audio.dBFS + 3  # peak-normalised, it was quieter
