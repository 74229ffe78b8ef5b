"""Decoding audio uploads into `pydub.AudioSegment`: the security boundary of the project.

Uploads come from strangers, so decoding runs in-process with PyAV (FFmpeg's libraries from the
wheel) on a file object, only through the demuxers of common audio formats, and stops at a
duration cap, a sample cap and a wall-clock deadline whatever the header claims. Encoding and
editing the decoded audio is riffusion_core.audio's job.
"""

from __future__ import annotations

import io
import math
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import av

from riffusion_core.audio import SAMPLE_RATE, SAMPLE_WIDTH, AudioSegment
from riffusion_core.errors import AudioDecodeError

MAX_DECODE_SECONDS = 600.0
"""Hard cap on decoded audio (about 100 MB of stereo int16), applied even without max_duration_s."""

# Demuxers an upload may be read with (FFmpeg names, matched like FFmpeg's format_whitelist).
# Leaving out everything else keeps playlists (hls, concat), image sequences and exotic parsers
# away from user data.
ALLOWED_DEMUXERS = (
    "mp3",
    "wav",
    "w64",
    "ogg",
    "flac",
    "mov",
    "matroska",
    "aac",
    "aiff",
    "caf",
    "asf",
)

_SUPPORTED = "Try an MP3, WAV, OGG, FLAC or M4A file."
_MSG_EMPTY = f"That file is empty. {_SUPPORTED}"
_MSG_NOT_AUDIO = f"That file isn't audio we can read, or it is damaged. {_SUPPORTED}"
_MSG_IMAGE = f"That file is an image, not audio. {_SUPPORTED}"
_MSG_NO_AUDIO_STREAM = f"That file has no audio track. {_SUPPORTED}"
_MSG_UNKNOWN_CODEC = f"That file's audio is in a format we can't decode. {_SUPPORTED}"
_MSG_NO_SAMPLES = "That file contains no sound (it is 0 seconds long). Try another file."
_MSG_DAMAGED = (
    "That audio file seems damaged or cut off. Try uploading it again, or export it "
    "again as MP3 or WAV."
)
_HEAD_BYTES = 64 * 1024  # enough to find a WAV data chunk behind the usual metadata chunks
_MIN_INPUT_RATE, _MAX_INPUT_RATE = 2000, 768_000
_MAX_PACKET_ERRORS = 8  # a few bad packets are skipped, as ffmpeg does; more means damaged

_IMAGE_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
)


@dataclass(frozen=True)
class DecodedAudio:
    """A decoded upload: the audio (44.1 kHz int16, 1 or 2 channels) and what we know of the file.

    When `truncated` is True only the first `duration_s` seconds were decoded and
    `source_duration_s` is the length the file declares (None when it doesn't say); otherwise
    it equals `duration_s`. `format_name` is FFmpeg's demuxer name, e.g. "mp3", "ogg".
    """

    segment: AudioSegment
    source_duration_s: float | None
    truncated: bool
    format_name: str

    @property
    def duration_s(self) -> float:
        return self.segment.frame_count() / self.segment.frame_rate


def _refuse_nested_open(url: str, flags: int, options: dict) -> None:
    """Demuxers never get to open other files or URLs named inside an upload."""
    raise PermissionError(f"nested open refused: {url[:80]}")


class _UnnamedFile:
    """A read-only file object without a `name`: FFmpeg then probes the bytes alone, never the
    extension the uploader chose, so a path and the same bytes decode the same way."""

    def __init__(self, raw: io.BufferedIOBase) -> None:
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> _UnnamedFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _open_source(source: str | Path | bytes) -> _UnnamedFile:
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise AudioDecodeError(_MSG_EMPTY)
        return _UnnamedFile(io.BytesIO(bytes(source)))
    path = Path(source)
    try:
        if path.stat().st_size == 0:
            raise AudioDecodeError(_MSG_EMPTY)
        return _UnnamedFile(path.open("rb"))
    except FileNotFoundError:
        raise AudioDecodeError(f"Can't find the audio file {path.name!r}.") from None
    except (IsADirectoryError, PermissionError, OSError) as exc:
        if isinstance(exc, AudioDecodeError):
            raise
        raise AudioDecodeError(f"Can't read the audio file {path.name!r}.") from None


def _looks_like_image(head: bytes) -> bool:
    return head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _declared_duration(
    container: av.container.InputContainer, stream: av.AudioStream, mp3_has_length: bool
) -> float | None:
    """What the file's headers say its length is, in seconds; None when they don't say.

    FFmpeg guesses the length of raw MP3 without a Xing/Info/VBRI header and of raw AAC from
    the bitrate, which is wrong for VBR, so those guesses are not taken as a claim.
    """
    name = container.format.name
    if name == "aac" or (name == "mp3" and not mp3_has_length):
        return None
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    # the container's length covers every stream: only the audio's when there's nothing else
    if container.duration is not None and container.duration > 0 and not container.streams.video:
        return container.duration / av.time_base
    return None


class _Deadline:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.end = time.monotonic() + timeout_s

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise AudioDecodeError(self.message())

    def message(self) -> str:
        return (
            f"Reading that file took too long (over {self.timeout_s:g} s). "
            "Try a shorter file, or convert it to MP3 or WAV."
        )


class _Collector:
    """Resamples decoded frames to 44.1 kHz int16 and stops at a frame budget."""

    def __init__(self, limit_frames: int) -> None:
        self.limit_frames = limit_frames
        self.channels = 0
        self.frames = 0
        self.chunks: list[bytes] = []
        self.resampler: av.AudioResampler | None = None
        self.input_key: tuple | None = None
        self.full = False

    def _new_resampler(self, frame: av.AudioFrame) -> av.AudioResampler:
        if self.resampler is not None:
            self._store(self.resampler.resample(None))
        if self.channels == 0:
            self.channels = 1 if frame.layout.nb_channels == 1 else 2
        layout = "mono" if self.channels == 1 else "stereo"
        self.resampler = av.AudioResampler(format="s16", layout=layout, rate=SAMPLE_RATE)
        self.input_key = (frame.format.name, frame.layout.name, frame.sample_rate)
        return self.resampler

    def add(self, frame: av.AudioFrame) -> None:
        if self.full:
            return
        if not _MIN_INPUT_RATE <= frame.sample_rate <= _MAX_INPUT_RATE:
            # 1 Hz would turn each input sample into 44100 output samples: a decompression bomb
            raise AudioDecodeError(
                f"That file has an unusable sample rate ({frame.sample_rate} Hz). {_SUPPORTED}"
            )
        key = (frame.format.name, frame.layout.name, frame.sample_rate)
        if self.resampler is None or key != self.input_key:
            resampler = self._new_resampler(frame)
        else:
            resampler = self.resampler
        self._store(resampler.resample(frame))

    def finish(self) -> bytes:
        """All samples as interleaved int16 bytes (joined once: peak memory about 2x the audio)."""
        if self.resampler is not None and not self.full:
            self._store(self.resampler.resample(None))
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data

    def _store(self, frames: list[av.AudioFrame]) -> None:
        for out in frames:
            if self.full:
                return
            # packed s16: one plane, interleaved -> (samples, channels)
            data = out.to_ndarray().reshape(-1, self.channels)
            room = self.limit_frames - self.frames
            if len(data) > room:  # only past the cap: a file of exactly cap length is whole
                data = data[:room]
                self.full = True
            self.chunks.append(data.tobytes())
            self.frames += len(data)


def decode_audio(
    source: str | Path | bytes, *, max_duration_s: float | None = None, timeout_s: float = 30.0
) -> DecodedAudio:
    """Decode an upload to a 44.1 kHz 16-bit AudioSegment (mono stays mono, more -> stereo).

    Decoding stops after `max_duration_s` (and never goes past MAX_DECODE_SECONDS) of audio,
    marking the result truncated. Raises AudioDecodeError, with a message for the uploader, when
    the file is not readable audio, is cut off or damaged, has no sound, or takes longer than
    `timeout_s` to read.
    """
    if max_duration_s is not None and max_duration_s <= 0:
        raise ValueError("max_duration_s must be positive")
    cap_s = (
        MAX_DECODE_SECONDS if max_duration_s is None else min(max_duration_s, MAX_DECODE_SECONDS)
    )
    deadline = _Deadline(timeout_s)
    fileobj = _open_source(source)
    with fileobj:
        head = fileobj.read(_HEAD_BYTES)
        fileobj.seek(0, io.SEEK_END)
        file_size = fileobj.tell()
        fileobj.seek(0)
        if _looks_like_image(head):
            raise AudioDecodeError(_MSG_IMAGE)
        mp3_has_length = _mp3_has_length_header(fileobj, head)
        container = _open_container(fileobj, timeout_s)
        with container:
            if not container.streams.audio:
                raise AudioDecodeError(_MSG_NO_AUDIO_STREAM)
            stream = container.streams.audio[0]
            if stream.codec_context is None:  # FFmpeg has no decoder for this codec
                raise AudioDecodeError(_MSG_UNKNOWN_CODEC)
            declared = _max_or_none(
                _declared_duration(container, stream, mp3_has_length),
                _wav_claimed_duration(head, file_size),
            )
            collector = _Collector(limit_frames=math.ceil(cap_s * SAMPLE_RATE))
            _decode_stream(container, stream, collector, deadline)
            data = collector.finish()
            format_name = container.format.name

    if not data:
        raise AudioDecodeError(_MSG_NO_SAMPLES)
    channels = collector.channels
    decoded_s = len(data) / (SAMPLE_WIDTH * channels * SAMPLE_RATE)
    if collector.full:
        source_s = declared if declared is not None and declared > decoded_s else None
    else:
        if declared is not None and _short_of_claim(decoded_s, declared):
            raise AudioDecodeError(
                f"That audio file seems damaged or cut off: it says it lasts {_fmt_s(declared)} "
                f"but only {_fmt_s(decoded_s)} could be read. Try uploading it again, or export "
                "it again as MP3 or WAV."
            )
        source_s = decoded_s
    segment = AudioSegment(
        data=data, sample_width=SAMPLE_WIDTH, frame_rate=SAMPLE_RATE, channels=channels
    )
    return DecodedAudio(
        segment=segment,
        source_duration_s=source_s,
        truncated=collector.full,
        format_name=format_name,
    )


def _max_or_none(*values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _mp3_has_length_header(fileobj: _UnnamedFile, head: bytes) -> bool:
    """Whether an MP3's first frame carries a Xing/Info/VBRI header (frame count: exact length).

    Reads past an ID3v2 tag (cover art can make it megabytes long) and leaves the file at 0.
    """
    start = 0
    if head[:3] == b"ID3" and len(head) >= 10:
        size = 0
        for byte in head[6:10]:  # "syncsafe" integer: 7 bits per byte
            size = (size << 7) | (byte & 0x7F)
        start = 10 + size + (10 if head[5] & 0x10 else 0)
    if start + 4096 <= len(head):
        frame_area = head[start : start + 4096]
    else:
        fileobj.seek(start)
        frame_area = fileobj.read(4096)
        fileobj.seek(0)
    sync = next(
        (
            i
            for i in range(len(frame_area) - 1)
            if frame_area[i] == 0xFF and frame_area[i + 1] & 0xE0 == 0xE0
        ),
        None,
    )
    if sync is None:
        return False
    first_frame = frame_area[sync : sync + 200]
    return any(tag in first_frame for tag in (b"Xing", b"Info", b"VBRI"))


def _wav_claimed_duration(head: bytes, file_size: int) -> float | None:
    """Seconds a RIFF/WAVE header's data chunk claims (FFmpeg quietly clamps it to the file).

    None for anything but WAV, and for the 0 / 0xFFFFFFFF sizes streaming writers leave behind.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, 0
    while pos + 8 <= len(head):
        chunk_id = head[pos : pos + 4]
        (size,) = struct.unpack_from("<I", head, pos + 4)
        if chunk_id == b"fmt " and pos + 16 <= len(head):
            (byte_rate,) = struct.unpack_from("<I", head, pos + 16)
        elif chunk_id == b"data":
            if byte_rate <= 0 or size in (0, 0xFFFFFFFF):
                return None
            return size / byte_rate
        pos += 8 + size + (size & 1)
    return None


def _open_container(fileobj: _UnnamedFile, timeout_s: float) -> av.container.InputContainer:
    try:
        return av.open(
            fileobj,
            mode="r",
            container_options={"format_whitelist": ",".join(ALLOWED_DEMUXERS)},
            metadata_errors="replace",
            timeout=timeout_s,
            io_open=_refuse_nested_open,
        )
    except av.error.ExitError:
        raise AudioDecodeError(_Deadline(timeout_s).message()) from None
    except (av.error.FFmpegError, ValueError, OSError, EOFError):
        raise AudioDecodeError(_MSG_NOT_AUDIO) from None


def _decode_stream(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    collector: _Collector,
    deadline: _Deadline,
) -> None:
    errors = 0
    packets = container.demux(stream)
    while not collector.full:
        deadline.check()
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.ExitError:
            raise AudioDecodeError(deadline.message()) from None
        except (av.error.FFmpegError, OSError, EOFError):
            # unreadable container data: keep what decoded so far, the length check judges it
            return
        try:
            frames = packet.decode()
        except (av.error.FFmpegError, ValueError):
            errors += 1
            if errors > _MAX_PACKET_ERRORS:
                raise AudioDecodeError(_MSG_DAMAGED) from None
            continue
        for frame in frames:
            try:
                collector.add(frame)
            except (av.error.FFmpegError, ValueError):
                raise AudioDecodeError(_MSG_DAMAGED) from None


def _short_of_claim(decoded_s: float, declared_s: float) -> bool:
    """True when far less audio decoded than the header promised (cut off, or a lying header)."""
    return decoded_s < declared_s * 0.9 - 0.5


def _fmt_s(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}:{secs:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
