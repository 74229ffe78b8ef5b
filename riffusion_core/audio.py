"""Encoding and editing audio as `pydub.AudioSegment`, with nothing but pip packages.

MP3/WAV export, stitching clips, and samples <-> segments. pydub is pointed at imageio-ffmpeg's
executable at import so it never looks for (or warns about) a system ffmpeg. Reading uploads is
riffusion_core.audio_decode's job: that is where untrusted bytes are handled.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from riffusion_core.errors import AudioExportError

with warnings.catch_warnings():
    # pydub looks for ffmpeg/avconv on PATH when its module is first imported; we configure it
    # right below, so its "Couldn't find ffmpeg" warning would only mislead.
    warnings.filterwarnings("ignore", message="Couldn't find ff", category=RuntimeWarning)
    warnings.filterwarnings("ignore", message=".*audioop", category=DeprecationWarning)
    from pydub import AudioSegment

SAMPLE_RATE = 44100
SAMPLE_WIDTH = 2  # bytes: 16-bit PCM everywhere
NORMALIZE_PEAK_DBFS = -0.1
MP3_BITRATES_KBPS = (192, 160, 128, 96, 64)


def ffmpeg_executable() -> str:
    """Path of the ffmpeg executable shipped in the imageio-ffmpeg wheel (e.g. for voice play)."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def _configure_pydub() -> None:
    try:
        exe = ffmpeg_executable()
    except RuntimeError:  # no bundled binary here: WAV export and in-process decoding still work
        return
    AudioSegment.converter = exe
    AudioSegment.ffmpeg = exe


_configure_pydub()


# ---------------------------------------------------------------------------------------------
# Encoding


def encode_mp3(segment: AudioSegment, bitrate_kbps: int = 192) -> bytes:
    """MP3 (CBR, gapless LAME header) via pydub and imageio-ffmpeg's bundled ffmpeg.

    Measured faster than PyAV's in-process libmp3lame for anything but short clips.
    """
    if not 8 <= bitrate_kbps <= 320:
        raise ValueError(f"MP3 bitrate must be 8-320 kbps, got {bitrate_kbps}")
    buf = io.BytesIO()
    try:
        segment.export(buf, format="mp3", bitrate=f"{bitrate_kbps}k")
    except Exception as exc:  # pydub raises CouldntEncodeError with ffmpeg's whole stderr
        raise AudioExportError("Couldn't encode the audio as MP3.") from exc
    return buf.getvalue()


def encode_wav(segment: AudioSegment) -> bytes:
    """16-bit PCM WAV, written by pydub with the standard library (no ffmpeg involved)."""
    buf = io.BytesIO()
    segment.export(buf, format="wav")
    return buf.getvalue()


def estimate_mp3_bytes(segment: AudioSegment, bitrate_kbps: int) -> int:
    """Size of a CBR MP3 of this segment, to within a frame or two."""
    return math.ceil(segment.frame_count() / segment.frame_rate * bitrate_kbps * 125) + 1024


def encode_mp3_within(
    segment: AudioSegment, max_bytes: int, bitrates: Sequence[int] = MP3_BITRATES_KBPS
) -> tuple[bytes, int]:
    """The best-quality MP3 (first of `bitrates` that fits) no larger than `max_bytes`.

    Returns (data, bitrate_kbps); raises AudioExportError when even the last bitrate is too big.
    Bitrates whose estimated size is clearly over the limit are not encoded at all.
    """
    if not bitrates:
        raise ValueError("bitrates must not be empty")
    size = estimate_mp3_bytes(segment, bitrates[-1])
    for kbps in bitrates:
        if estimate_mp3_bytes(segment, kbps) > max_bytes * 1.05:
            continue
        data = encode_mp3(segment, kbps)
        if len(data) <= max_bytes:
            return data, kbps
        size = len(data)
    raise AudioExportError(
        f"The audio is too long to upload: even at {bitrates[-1]} kbps it would be "
        f"{size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit. Try a shorter clip."
    )


def export_audio(segment: AudioSegment, path: str | Path) -> Path:
    """Write the segment to `path` as MP3 or WAV, chosen by the file suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mp3":
        data = encode_mp3(segment)
    elif suffix == ".wav":
        data = encode_wav(segment)
    else:
        shown = f"'{path.suffix}'" if path.suffix else "a file without an extension"
        raise AudioExportError(f"Can't save audio as {shown}: use a .mp3 or .wav file name.")
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------------------
# Editing


def to_exchange_format(segment: AudioSegment) -> AudioSegment:
    """The segment as 16-bit 44.1 kHz with 1 or 2 channels (a no-op when it already is)."""
    if segment.channels not in (1, 2):
        raise ValueError(f"expected 1 or 2 channels, got {segment.channels}")
    if segment.sample_width != SAMPLE_WIDTH:
        segment = segment.set_sample_width(SAMPLE_WIDTH)
    if segment.frame_rate != SAMPLE_RATE:
        segment = segment.set_frame_rate(SAMPLE_RATE)
    return segment


def stitch(segments: Sequence[AudioSegment], crossfade_ms: int) -> AudioSegment:
    """Join clips end to end, overlapping each join by `crossfade_ms` with pydub's crossfade.

    0 ms is plain gapless concatenation. The result lasts sum(lengths) - (n - 1) * crossfade_ms
    (pydub works in whole milliseconds); mono clips are widened to stereo when mixed with stereo.
    """
    if not segments:
        raise ValueError("stitch needs at least one segment")
    if crossfade_ms < 0:
        raise ValueError("crossfade_ms must not be negative")
    parts = [to_exchange_format(s) for s in segments]
    channels = max(s.channels for s in parts)
    parts = [s.set_channels(channels) for s in parts]
    if crossfade_ms == 0:
        return parts[0]._spawn(b"".join(s.raw_data for s in parts))
    for i, part in enumerate(parts):
        if len(part) < crossfade_ms:
            raise ValueError(
                f"segment {i} ({len(part)} ms) is shorter than the {crossfade_ms} ms crossfade"
            )
    out = parts[0]
    for part in parts[1:]:
        out = out.append(part, crossfade=crossfade_ms)
    return out


def trim_to(segment: AudioSegment, seconds: float) -> AudioSegment:
    """The first `seconds` of the segment (all of it when shorter), cut on a sample."""
    frames = round(seconds * segment.frame_rate)
    if frames >= segment.frame_count():
        return segment
    return segment.get_sample_slice(0, max(frames, 0))


def split_windows(segment: AudioSegment, window_ms: int, overlap_ms: int) -> list[AudioSegment]:
    """Cut audio into `window_ms` windows that overlap by `overlap_ms` (e.g. 5 s / 0.2 s for remix).

    The last window ends with the audio, so it may be shorter (but longer than the overlap), and
    stitch(windows, overlap_ms) gives back the input's length.
    """
    if window_ms <= 0 or not 0 <= overlap_ms < window_ms:
        raise ValueError("need window_ms > overlap_ms >= 0")
    rate = segment.frame_rate
    window = round(window_ms * rate / 1000)
    step = window - round(overlap_ms * rate / 1000)
    total = int(segment.frame_count())
    windows = []
    start = 0
    while True:
        end = min(start + window, total)
        windows.append(segment.get_sample_slice(start, end))
        if end >= total:
            return windows
        start += step


def segment_to_samples(segment: AudioSegment) -> np.ndarray:
    """Samples as float32 of shape (channels, frames), in int16 units (-32768..32767)."""
    if segment.sample_width != SAMPLE_WIDTH:
        segment = segment.set_sample_width(SAMPLE_WIDTH)
    interleaved = np.frombuffer(segment.raw_data, dtype=np.int16)
    return np.ascontiguousarray(interleaved.reshape(-1, segment.channels).T, dtype=np.float32)


def samples_to_segment(
    samples: np.ndarray, sample_rate: int = SAMPLE_RATE, normalize: bool = True
) -> AudioSegment:
    """16-bit AudioSegment from (channels, frames) samples in int16 units (1-D means mono).

    With `normalize` the peak is scaled to NORMALIZE_PEAK_DBFS (silence stays silence);
    otherwise values are rounded and clipped to the int16 range. NaN and inf become 0.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        x = x[np.newaxis]
    if x.ndim != 2 or x.shape[0] not in (1, 2):
        raise ValueError(f"samples must have shape (1 or 2 channels, frames), got {x.shape}")
    x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    if normalize and x.size:
        peak = float(np.max(np.abs(x)))
        if peak > 0:
            x = x * (32768.0 * 10 ** (NORMALIZE_PEAK_DBFS / 20) / peak)
    pcm = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    return AudioSegment(
        data=np.ascontiguousarray(pcm.T).tobytes(),
        sample_width=SAMPLE_WIDTH,
        frame_rate=int(sample_rate),
        channels=pcm.shape[0],
    )
