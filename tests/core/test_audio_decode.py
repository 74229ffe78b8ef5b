"""riffusion_core.audio_decode: decoding uploads safely, whatever their bytes claim."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import wave

import av
import numpy as np
import pytest
from PIL import Image
from pydub import AudioSegment

from riffusion_core import audio_decode
from riffusion_core.audio import SAMPLE_RATE, encode_wav, segment_to_samples
from riffusion_core.audio_decode import decode_audio
from riffusion_core.errors import AudioDecodeError
from tests.fixtures.audio import write_audio_bytes


def dominant_freq(channel: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(channel * np.hanning(len(channel))))
    return float(np.argmax(spectrum) * rate / len(channel))


def as_array(segment: AudioSegment) -> np.ndarray:
    return segment_to_samples(segment)


# --- decoding good files --------------------------------------------------------------------

DECODE_CASES = [
    *[("mp3", r, c) for r in (8000, 22050, 48000) for c in (1, 2)],
    *[("wav", r, c) for r in (8000, 22050, 48000) for c in (1, 2, 6)],
    *[("ogg", r, 2) for r in (8000, 22050, 48000)],
    *[("opus", r, c) for r in (8000, 48000) for c in (1, 2, 6)],
    *[("m4a", r, c) for r in (8000, 22050, 48000) for c in (1, 2, 6)],
    *[("flac", r, c) for r in (8000, 22050, 48000) for c in (1, 2, 6)],
    *[("webm", 48000, c) for c in (1, 2, 6)],
]


@pytest.mark.parametrize(("fmt", "rate", "channels"), DECODE_CASES)
def test_decodes_format_to_44k_int16(make_audio_file, fmt, rate, channels):
    path = make_audio_file(fmt, seconds=1.0, rate=rate, channels=channels, freq=440.0)

    result = decode_audio(path)

    seg = result.segment
    assert (seg.frame_rate, seg.sample_width, seg.channels) == (44100, 2, min(channels, 2))
    # within one codec frame (AAC at 8 kHz: 1024 samples = 0.128 s) of the written second
    assert result.duration_s == pytest.approx(1.0, abs=1024 / rate + 0.01)
    assert result.truncated is False
    assert result.source_duration_s == pytest.approx(result.duration_s)
    samples = as_array(seg)
    for channel in samples:
        assert dominant_freq(channel) == pytest.approx(440.0, abs=3.0)
        rms = float(np.sqrt(np.mean(channel**2)))
        assert rms == pytest.approx(0.5 * 32767 / np.sqrt(2), rel=0.3)


@pytest.mark.parametrize(
    ("container_format", "codec", "name"),
    [
        ("adts", "aac", "aac"),
        ("aiff", "pcm_s16be", "aiff"),
        ("caf", "pcm_s16le", "caf"),
        ("matroska", "flac", "matroska,webm"),
        ("mp4", "aac", "mov,mp4,m4a,3gp,3g2,mj2"),
    ],
)
def test_other_allowed_containers_decode(container_format, codec, name):
    result = decode_audio(_encode_with_pyav(container_format, codec))
    assert result.format_name == name
    assert result.segment.channels == 2
    assert result.duration_s == pytest.approx(1.0, abs=0.05)


def test_path_and_bytes_decode_the_same(make_audio_file):
    path = make_audio_file("flac", seconds=0.5, rate=22050, channels=2)
    from_path = decode_audio(path)
    from_bytes = decode_audio(path.read_bytes())
    from_str = decode_audio(str(path))
    assert from_path.segment.raw_data == from_bytes.segment.raw_data == from_str.segment.raw_data
    assert from_path.format_name == "flac"


def test_wav_at_44k_is_bit_exact(sine_segment):
    seg = sine_segment(0.7, freq=1000.0, channels=2)
    assert decode_audio(encode_wav(seg)).segment.raw_data == seg.raw_data


def test_long_file_is_cut_at_max_duration_without_decoding_all_of_it():
    ten_minutes = write_audio_bytes("flac", seconds=600.0, rate=8000, channels=1)

    tracemalloc.start()
    started = time.monotonic()
    try:
        result = decode_audio(ten_minutes, max_duration_s=60.0)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert result.truncated is True
    assert result.segment.frame_count() == 60 * SAMPLE_RATE
    assert result.source_duration_s == pytest.approx(600.0, abs=0.1)
    # all 600 s at 44.1 kHz would be 53 MB of int16 samples alone
    assert peak < 30e6
    assert elapsed < 10.0  # generous: it takes well under a second


def test_hard_cap_applies_without_max_duration(monkeypatch, make_audio_file):
    monkeypatch.setattr(audio_decode, "MAX_DECODE_SECONDS", 1.0)
    result = decode_audio(make_audio_file("wav", seconds=3.0))
    assert result.truncated is True
    assert result.segment.frame_count() == SAMPLE_RATE
    assert result.source_duration_s == pytest.approx(3.0)


def test_file_exactly_at_the_cap_is_not_truncated(make_audio_file):
    result = decode_audio(make_audio_file("wav", seconds=2.0), max_duration_s=2.0)
    assert result.truncated is False
    assert result.segment.frame_count() == 2 * SAMPLE_RATE


def test_timeout_raises_a_clear_error(make_audio_file):
    path = make_audio_file("mp3", seconds=2.0)
    with pytest.raises(AudioDecodeError, match="took too long"):
        decode_audio(path, timeout_s=1e-9)


def test_invalid_max_duration_is_a_programming_error(make_audio_file):
    with pytest.raises(ValueError):
        decode_audio(make_audio_file("wav"), max_duration_s=0)


# --- decoding bad files ---------------------------------------------------------------------


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def _empty_wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
    return buf.getvalue()


def _wav_claiming_hours() -> bytes:
    """Half a second of audio behind a header whose sizes claim about 3.4 hours."""
    pcm = (np.sin(np.arange(22050 * 2) * 0.06) * 8000).astype(np.int16).tobytes()
    fmt = struct.pack("<IHHIIHH", 16, 1, 2, 44100, 44100 * 4, 4, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 0x7FFFFFF0)
        + b"WAVEfmt "
        + fmt
        + b"data"
        + struct.pack("<I", 0x7FFFFF00)
        + pcm
    )


def _video_without_audio() -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as container:
        stream = container.add_stream("mpeg4", rate=1)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


def _wav_at_1_hz() -> bytes:
    """A 10 kB WAV whose 1 Hz rate would resample to hours of audio (a decompression bomb)."""
    data = bytearray(_empty_wav()[:44] + bytes(10_000))
    struct.pack_into("<HHIIHH", data, 20, 1, 1, 1, 2, 2, 16)
    struct.pack_into("<I", data, 40, 10_000)
    return bytes(data)


def _encode_with_pyav(container_format: str, codec: str) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=44100, layout="stereo")
        planes = np.zeros((2, 44100), np.float32)
        planes[:] = 0.3 * np.sin(2 * np.pi * 440 * np.arange(44100) / 44100)
        for start in range(0, 44100, 4096):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(planes[:, start : start + 4096]),
                format="fltp",
                layout="stereo",
            )
            frame.sample_rate = 44100
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


def _webm_with_unknown_codec() -> bytes:
    data = write_audio_bytes("webm", 1.0, rate=48000)
    return data.replace(b"A_OPUS", b"A_XXXX", 1)


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


BAD_FILES = {
    "empty": (lambda: b"", "empty"),
    "truncated mp3": (lambda: _half(write_audio_bytes("mp3", 4.0, channels=2)), "cut off"),
    "truncated flac": (lambda: _half(write_audio_bytes("flac", 4.0, channels=2)), "cut off"),
    "truncated wav": (lambda: _half(write_audio_bytes("wav", 4.0, channels=2)), "cut off"),
    "truncated m4a": (lambda: _half(write_audio_bytes("m4a", 4.0)), "isn't audio"),
    "first bytes of an mp3": (lambda: write_audio_bytes("mp3", 4.0)[:300], "isn't audio"),
    "text": (lambda: b"this is not a song, just some text\n" * 40, "isn't audio"),
    "png": (_png_bytes, "image"),
    "zero-length wav": (_empty_wav, "no sound"),
    "zero-length flac": (lambda: write_audio_bytes("flac", 0.0), "no sound"),
    "wav header claiming hours": (_wav_claiming_hours, "cut off"),
    "video without audio": (_video_without_audio, "no audio track"),
    "1 Hz sample rate": (_wav_at_1_hz, "sample rate"),
    "unknown codec": (_webm_with_unknown_codec, "can't decode"),
    # real audio, but in a container outside the allow-list of demuxers
    "mpeg-ts": (lambda: _encode_with_pyav("mpegts", "mp2"), "isn't audio"),
    "random bytes": (lambda: np.random.default_rng(7).bytes(200_000), "isn't audio"),
    "hls playlist": (lambda: b"#EXTM3U\n#EXTINF:10,\n/etc/passwd\n#EXT-X-ENDLIST\n", "isn't audio"),
    "ffconcat list": (lambda: b"ffconcat version 1.0\nfile '/etc/passwd'\n", "isn't audio"),
}


def assert_user_message(message: str) -> None:
    assert "\n" not in message
    assert "Errno" not in message and "avcodec" not in message and "av." not in message
    assert message.endswith(".") and message[0].isupper()
    assert "Try" in message  # says what to do next


@pytest.mark.parametrize("name", list(BAD_FILES))
@pytest.mark.parametrize("as_path", [False, True], ids=["bytes", "path"])
def test_bad_upload_raises_clear_error_in_bounded_time_and_memory(tmp_path, name, as_path):
    make, expected = BAD_FILES[name]
    data = make()
    # the uploader's name for it is a lie: text "song.mp3", image "song.wav"...
    source = tmp_path / ("upload.wav" if name == "png" else "upload.mp3") if as_path else data
    if as_path:
        source.write_bytes(data)

    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(AudioDecodeError) as caught:
            decode_audio(source)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert expected in str(caught.value)
    assert_user_message(str(caught.value))
    # no chained library exception to show up in a traceback
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ or caught.value.__context__ is None
    assert peak < 200e6
    assert elapsed < 10.0


def test_header_claiming_hours_reports_both_lengths():
    with pytest.raises(AudioDecodeError, match=r"3:2\d:\d\d but only 0\.5 s"):
        decode_audio(_wav_claiming_hours())


def test_streaming_wav_with_unknown_size_is_accepted():
    # writers that cannot seek leave 0xFFFFFFFF as the data size: that's "until the end"
    data = bytearray(_wav_claiming_hours())
    data[40:44] = struct.pack("<I", 0xFFFFFFFF)
    result = decode_audio(bytes(data))
    assert result.duration_s == pytest.approx(0.5)


def _mp3(
    samples: np.ndarray,
    container_options: dict[str, str],
    codec_options: dict[str, str] | None = None,
) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3", container_options=container_options) as container:
        stream = container.add_stream("libmp3lame", rate=44100, layout="mono")
        stream.codec_context.options = codec_options or {}
        for start in range(0, len(samples), 4096):
            frame = av.AudioFrame.from_ndarray(
                samples[np.newaxis, start : start + 4096].copy(), format="fltp", layout="mono"
            )
            frame.sample_rate = 44100
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


def test_vbr_mp3_without_xing_header_is_not_called_cut_off():
    # FFmpeg guesses this file's length from its first (silent, low-bitrate) frames: ~2x too long
    noise = np.random.default_rng(0).uniform(-0.9, 0.9, 5 * 44100)
    samples = np.concatenate([np.zeros(5 * 44100), noise]).astype(np.float32)
    data = _mp3(samples, {"write_xing": "0"}, {"flags": "+qscale", "global_quality": "236"})
    with av.open(io.BytesIO(data)) as container:
        assert container.duration / av.time_base > 15  # the misleading guess
    result = decode_audio(data)
    assert result.duration_s == pytest.approx(10.0, abs=0.1)
    assert result.source_duration_s == result.duration_s


def test_cut_off_mp3_behind_a_large_id3_tag_is_detected():
    samples = (0.5 * np.sin(2 * np.pi * 440 * np.arange(4 * 44100) / 44100)).astype(np.float32)
    tag_size = 200_000  # e.g. cover art; the Xing header sits after it
    syncsafe = bytes((tag_size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    data = b"ID3\x04\x00\x00" + syncsafe + bytes(tag_size) + _mp3(samples, {"write_id3v2": "0"})
    assert decode_audio(data).duration_s == pytest.approx(4.0, abs=0.05)
    with pytest.raises(AudioDecodeError, match="cut off"):
        decode_audio(data[: tag_size + (len(data) - tag_size) // 2])


def test_missing_file_is_a_decode_error(tmp_path):
    with pytest.raises(AudioDecodeError, match="find"):
        decode_audio(tmp_path / "nope.mp3")


def test_a_few_corrupt_bytes_mid_mp3_still_decode():
    data = bytearray(write_audio_bytes("mp3", 4.0, channels=2))
    middle = len(data) // 3
    data[middle : middle + 2000] = np.random.default_rng(3).bytes(2000)
    result = decode_audio(bytes(data))
    assert 3.5 < result.duration_s <= 4.01
