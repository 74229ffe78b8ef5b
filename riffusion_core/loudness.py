"""Loudness at export: the reference's -12 dBFS RMS, with a look-ahead limiter so nothing clips.

Riffusion's server normalised every clip to about -12 dBFS RMS and then set the peak to
-0.1 dBFS, which clips loud peaks. Conversion from images (riffusion_core.converter) only
peak-normalises, so clips with a high crest factor came out several dB quieter than Riffusion.
`normalise` gives the whole output (a clip, a blend, a long riff: never clip by clip, so nothing
pumps at the joins) one gain towards the target RMS, and a look-ahead limiter holds the true
peak, measured with 4x oversampling as ITU-R BS.1770 does, at or below the ceiling (-1 dBTP
leaves room for the MP3 encoder's overshoot). The limiter takes at most `max_limiting_db` off a
peak: material spikier than that stays quieter than the target, at the ceiling.

Samples are float arrays of shape (channels, frames) in full-scale units (1.0 = 0 dBFS); RMS is
over all channels together, as pydub's dBFS is. All of it is vectorised (numpy, torch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from riffusion_core.audio import SAMPLE_RATE, AudioSegment, samples_to_segment, segment_to_samples

INT16_FULL_SCALE = 32768.0
SILENCE_DBFS = -70.0  # quieter than this is silence (or dither): left as it is, never boosted
OVERSAMPLING = 4  # BS.1770's true-peak meter: 4x at 44.1/48 kHz
_TAPS_PER_PHASE = 12  # BS.1770's reference interpolator has 48 taps: 12 per phase
_KAISER_BETA = 6.0
_VERIFY_MARGIN_DB = 0.02  # the final check trims by at least this when a peak is over


@dataclass(frozen=True)
class LoudnessSettings:
    """Where exported audio ends up: RMS target, true-peak ceiling and the limiter's shape."""

    target_rms_dbfs: float = -12.0  # the reference's loudness
    ceiling_dbtp: float = -1.0
    lookahead_ms: float = 5.0  # the limiter's attack: the gain ramps down over this window
    release_db_per_s: float = 40.0  # how fast the gain comes back after a peak
    max_limiting_db: float = 12.0  # the most the limiter takes off any peak

    def __post_init__(self) -> None:
        for name in ("target_rms_dbfs", "ceiling_dbtp"):
            value = getattr(self, name)
            if not math.isfinite(value) or not -60.0 <= value <= 0.0:
                raise ValueError(f"{name} must be between -60 and 0 dB, not {value}")
        if self.lookahead_ms <= 0 or self.release_db_per_s <= 0 or self.max_limiting_db < 0:
            raise ValueError("lookahead_ms and release_db_per_s must be above 0")


# ----------------------------------------------------------------------------- meters


def _as_tensor(samples: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(channels, frames) float32 tensor (1-D input is one channel)."""
    x = torch.as_tensor(np.asarray(samples, dtype=np.float32))
    return x.unsqueeze(0) if x.ndim == 1 else x


def _db(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0 else -math.inf


def _rms_db(x: torch.Tensor) -> float:
    return _db(math.sqrt(float(x.double().square().mean()))) if x.numel() else -math.inf


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level over all channels (full-scale square wave = 0 dBFS); -inf for silence."""
    return _rms_db(_as_tensor(samples))


def _interpolator() -> np.ndarray:
    """(OVERSAMPLING - 1, taps) windowed-sinc polyphase interpolator: the points between two
    samples (phase 0, the samples themselves, needs no filter).

    y_p[n] = sum_j x[n - j] * taps_p[j] is the signal at n + p / 4. Cut off at the input's
    Nyquist frequency; each phase sums to 1, so DC passes unchanged.
    """
    half = _TAPS_PER_PHASE // 2
    j = np.arange(-half, half + 1)
    span = OVERSAMPLING * half
    phases = []
    for p in range(1, OVERSAMPLING):
        m = OVERSAMPLING * j + p  # position on the oversampled grid
        inside = np.clip(1 - (m / span) ** 2, 0, None)
        window = np.where(np.abs(m) <= span, np.i0(_KAISER_BETA * np.sqrt(inside)), 0.0)
        taps = np.sinc(m / OVERSAMPLING) * window
        phases.append(taps / taps.sum())
    return np.stack(phases)


_TAPS = _interpolator()
_HALF = _TAPS_PER_PHASE // 2
_GAIN_BOUND = float(np.abs(_TAPS).sum(axis=1).max())  # |y_p[n]| <= this x max |x| nearby


def _sliding_max(values: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """out[n] = max(values[n - before : n + after + 1]) in O(n) (van Herk / Gil-Werman)."""
    width = before + after + 1
    n = values.numel()
    if width <= 32:  # short windows: pooling directly is faster
        padded = F.pad(values[None, None], (before, after), value=-math.inf)
        return F.max_pool1d(padded, kernel_size=width, stride=1)[0, 0]
    total = -(-(n + width - 1) // width) * width
    blocks = torch.full((total,), -math.inf, dtype=values.dtype)
    blocks[before : before + n] = values
    blocks = blocks.view(-1, width)
    prefix = torch.cummax(blocks, dim=1).values.reshape(-1)
    suffix = torch.cummax(blocks.flip(1), dim=1).values.flip(1).reshape(-1)
    return torch.maximum(suffix[:n], prefix[width - 1 : width - 1 + n])


def _between_peaks(x: torch.Tensor) -> torch.Tensor:
    """Per frame: the largest |value| over the channels at the 3 oversampled points between the
    frame and the next (shifted multiply-adds: faster on the CPU than conv1d with one input)."""
    frames = x.shape[-1]
    padded = F.pad(x, (_HALF, _HALF))
    peaks = torch.zeros(frames)
    for taps in _TAPS:
        point = torch.zeros_like(x)
        for j, tap in enumerate(taps.tolist(), start=-_HALF):
            if tap:
                point.add_(padded[:, _HALF - j : _HALF - j + frames], alpha=tap)
        peaks = torch.maximum(peaks, point.abs().amax(dim=0))
    return peaks


def _envelope(x: torch.Tensor) -> torch.Tensor:
    if x.shape[-1] == 0:
        return torch.zeros(0)
    return torch.maximum(x.abs().amax(dim=0), _between_peaks(x))


def peak_envelope(samples: np.ndarray) -> np.ndarray:
    """Per frame n: the largest |value| over the channels at n and at the 3 oversampled points
    between n and n + 1 (the true-peak meter's readings, frame by frame)."""
    with torch.inference_mode():
        return _envelope(_as_tensor(samples)).numpy().astype(np.float64)


def true_peak_dbfs(samples: np.ndarray) -> float:
    """True peak in dBTP (dBFS of the 4x oversampled signal); -inf for silence."""
    envelope = peak_envelope(samples)
    return _db(float(envelope.max())) if envelope.size else -math.inf


def _true_peak_above(x: torch.Tensor, floor: float) -> float:
    """The true peak (linear) when it is above `floor`, else at most `floor`. Only frames whose
    neighbourhood could reach `floor` are interpolated: fast on limited audio."""
    level = x.abs().amax(dim=0)
    peak = float(level.max()) if level.numel() else 0.0
    frames = torch.nonzero(_sliding_max(level, _HALF, _HALF) * _GAIN_BOUND >= floor).flatten()
    if frames.numel() * 16 > level.numel():  # dense material: interpolating it all is faster
        return max(peak, float(_between_peaks(x).max()))
    if frames.numel():
        padded = F.pad(x, (_HALF, _HALF))
        windows = padded[:, frames[:, None] + torch.arange(2 * _HALF + 1)]  # (C, k, taps)
        between = windows.flip(-1) @ torch.from_numpy(_TAPS.T.astype(np.float32))
        peak = max(peak, float(between.abs().max()))
    return peak


# ----------------------------------------------------------------------------- limiter


def limiter_reduction_db(
    needed_db: torch.Tensor, lookahead: int, release_db_per_sample: float, carry_db: float = 0.0
) -> torch.Tensor:
    """Smooth gain reduction (dB, >= 0) that is at least `needed_db` at every frame.

    Hold the largest need over the look-ahead window, let it fall back linearly (in dB) after
    it, then average over the look-ahead window: the gain ramps down over the window before a
    peak (attack) and recovers at `release_db_per_sample` after it, with no corners. Every frame
    in the averaging window holds at least the need of the frame it ends on, so the average does.
    `carry_db` is the reduction just before the first frame (a stream's previous chunk): it goes
    on being released, so the gain does not jump at the join.
    """
    if needed_db.numel() == 0 or (carry_db <= 0 and not bool((needed_db > 0).any())):
        return torch.zeros_like(needed_db)
    held = _sliding_max(needed_db, 0, lookahead - 1).double()
    ramp = release_db_per_sample * torch.arange(held.numel(), dtype=torch.float64)
    released = torch.cummax(held + ramp, dim=0).values - ramp
    released = torch.maximum(released, carry_db - release_db_per_sample - ramp)
    sums = F.pad(torch.cumsum(released, dim=0), (1, 0))
    window = min(lookahead, held.numel())
    head = sums[1:window] / torch.arange(1, window, dtype=torch.float64)  # fewer frames yet
    tail = (sums[window:] - sums[: sums.numel() - window]) / window
    return torch.cat([head, tail]).float()


# ----------------------------------------------------------------------------- normalising


def _limited(
    x: torch.Tensor,
    envelope_db: torch.Tensor,
    gain_db: float,
    settings: LoudnessSettings,
    rate: int,
) -> torch.Tensor:
    lookahead = max(1, round(settings.lookahead_ms * rate / 1000))
    needed = (envelope_db + gain_db - settings.ceiling_dbtp).clamp(min=0.0)
    reduction = limiter_reduction_db(needed, lookahead, settings.release_db_per_s / rate)
    return x * torch.pow(10.0, (gain_db - reduction) / 20.0).unsqueeze(0)


def _loudness_gain(
    x: torch.Tensor, level: float, envelope_db: torch.Tensor, settings: LoudnessSettings, rate: int
) -> tuple[float, torch.Tensor]:
    """The one gain (dB) that brings `x` to the target RMS after limiting, or as close as a
    limiter taking at most `max_limiting_db` off the loudest peak allows; and `x` limited at it.

    Past the point where the limiter takes off all that more gain adds (dense material), the
    gain stops rising: more would only be more limiting.
    """
    most = settings.ceiling_dbtp - float(envelope_db.max()) + settings.max_limiting_db
    gain_db = min(settings.target_rms_dbfs - level, most)
    out = _limited(x, envelope_db, gain_db, settings, rate)
    reached = _rms_db(out)
    slope = 1.0  # dB of RMS per dB of gain
    for _ in range(4):
        short = settings.target_rms_dbfs - reached
        if short < 0.05 or gain_db >= most:
            break
        louder_db = min(gain_db + short / slope, most)
        louder = _limited(x, envelope_db, louder_db, settings, rate)
        rise = _rms_db(louder) - reached
        if rise < 0.05:
            break
        slope = min(1.0, max(0.1, rise / (louder_db - gain_db)))
        gain_db, out, reached = louder_db, louder, reached + rise
    return gain_db, out


def _under_ceiling(out: torch.Tensor, settings: LoudnessSettings) -> torch.Tensor:
    """`out` trimmed by the hair it is over the ceiling, if any (the gain moved a little within
    the interpolator's span, so the limiter's reading of a peak was a hair low)."""
    ceiling = 10.0 ** (settings.ceiling_dbtp / 20.0)
    over = _db(_true_peak_above(out, ceiling)) - settings.ceiling_dbtp
    return out * 10.0 ** (-(over + _VERIFY_MARGIN_DB) / 20.0) if over > 0 else out


def normalise_samples(
    samples: np.ndarray, settings: LoudnessSettings | None = None, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """`samples` (full-scale units) at the target RMS, true peak at most the ceiling.

    One gain for the whole signal, raised until the RMS after limiting reaches the target or the
    limiter would take more than `max_limiting_db` off the loudest peak. Silence stays silence.
    Returns float32 (channels, frames), 1-D input as one channel.
    """
    settings = settings or LoudnessSettings()
    with torch.inference_mode():
        x = _as_tensor(samples)
        level = _rms_db(x)
        if not level > SILENCE_DBFS:
            return x.numpy().copy()
        envelope_db = 20.0 * torch.log10(_envelope(x))
        _, out = _loudness_gain(x, level, envelope_db, settings, sample_rate)
        return _under_ceiling(out, settings).numpy()


def normalise(segment: AudioSegment, settings: LoudnessSettings | None = None) -> AudioSegment:
    """The segment at the target loudness with its true peak under the ceiling (16-bit)."""
    x = segment_to_samples(segment) / INT16_FULL_SCALE
    out = normalise_samples(x, settings, segment.frame_rate)
    return samples_to_segment(out * INT16_FULL_SCALE, segment.frame_rate, normalize=False)


class StreamNormaliser:
    """Normalises an endless stream chunk by chunk (the radio), with no step at the joins.

    Each chunk's gain is the one `normalise` would give it alone. The last `hold_ms` of every
    chunk are held back until the next one arrives, so the gain can change across the join:
    down to a louder chunk within the held part (the limiter sees across the join and catches
    the rest), up to a quieter one slowly, over the whole chunk. Loudness follows the music as
    one gain for a whole track would, without pumping at every clip. `flush` returns the part
    still held when the stream ends. Silent chunks pass at the current gain.
    """

    def __init__(self, settings: LoudnessSettings | None = None, hold_ms: float = 200.0) -> None:
        self.settings = settings or LoudnessSettings()
        self.hold_ms = hold_ms
        self._tail: torch.Tensor | None = None  # held back, not yet gained
        self._rate = SAMPLE_RATE
        self._gain_db: float | None = None  # gain at the first held frame
        self._reduction_db = 0.0  # limiter reduction just before it

    def __call__(self, segment: AudioSegment) -> AudioSegment:
        settings, rate = self.settings, segment.frame_rate
        with torch.inference_mode():
            x = _as_tensor(segment_to_samples(segment) / INT16_FULL_SCALE)
            level = _rms_db(x)
            if self._gain_db is None and not level > SILENCE_DBFS:
                return segment  # nothing heard yet: no gain to apply
            envelope_db = 20.0 * torch.log10(_envelope(x).clamp(min=1e-12))
            if level > SILENCE_DBFS or self._gain_db is None:
                target, _ = _loudness_gain(x, level, envelope_db, settings, rate)
            else:  # a silent chunk keeps the gain where it was
                target = self._gain_db
            tail = self._tail if self._tail is not None else x[:, :0]
            held = tail.shape[-1]
            both = torch.cat([tail, x], dim=-1)
            start = target if self._gain_db is None else self._gain_db
            frames = both.shape[-1]
            glide = held if target < start and held else frames  # down fast, up slowly
            steps = torch.arange(frames, dtype=torch.float32)
            gains = start + (target - start) * (steps / max(glide, 1)).clamp(max=1.0)
            needed = (20.0 * torch.log10(_envelope(both).clamp(min=1e-12)) + gains).sub(
                settings.ceiling_dbtp
            )
            lookahead = max(1, round(settings.lookahead_ms * rate / 1000))
            reduction = limiter_reduction_db(
                needed.clamp(min=0.0),
                lookahead,
                settings.release_db_per_s / rate,
                self._reduction_db,
            )
            out = both * torch.pow(10.0, (gains - reduction) / 20.0)
            keep = min(round(self.hold_ms * rate / 1000), frames // 2)
            cut = frames - keep
            self._tail, self._rate = both[:, cut:].clone(), rate
            self._gain_db = float(gains[cut]) if keep else target
            self._reduction_db = float(reduction[cut - 1]) if cut else self._reduction_db
            done = _under_ceiling(out[:, :cut], settings)
        return samples_to_segment(done.numpy() * INT16_FULL_SCALE, rate, normalize=False)

    def flush(self) -> AudioSegment | None:
        """The held end of the stream at the last gain (None when nothing is held)."""
        if self._tail is None or self._tail.shape[-1] == 0 or self._gain_db is None:
            return None
        with torch.inference_mode():
            tail, self._tail = self._tail, None
            envelope_db = 20.0 * torch.log10(_envelope(tail).clamp(min=1e-12))
            out = _limited(tail, envelope_db, self._gain_db, self.settings, self._rate)
            done = _under_ceiling(out, self.settings)
        return samples_to_segment(done.numpy() * INT16_FULL_SCALE, self._rate, normalize=False)
