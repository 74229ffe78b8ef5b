"""Tempo and beat measurement for the benchmarks (bench/tempo.py): numpy only.

- onset_envelope: spectral flux of the log-compressed magnitude spectrum (positive changes
  summed over frequency, a running mean taken off), one value every HOP samples (5.8 ms).
- estimate_bpm: the envelope's autocorrelation read at every multiple of a candidate beat
  period (a comb over 1..COMB_TEETH beats, interpolated between frames, so long lags give
  sub-frame precision), searched over 60-180 BPM; a beat whose half-beat scores as well is
  preferred to its double (the beats, not the half bars). Which octave a listener calls "the
  beat" is a matter of taste (a 70 BPM groove with eighth-note hats is also 140 BPM): fold_octave
  puts an estimate in the planned tempo's octave, and the benchmark reports both.
- onset_times: peaks of the envelope, refined to sub-frame by a parabola, with their strength.
- beat_deviations: for each planned beat of a grid, the strong onset nearest to it (within an
  eighth of a beat), and how far off it is in ms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 44100
N_FFT = 2048
HOP = 256
MIN_BPM = 60.0
MAX_BPM = 180.0
COMB_TEETH = 8


def _frames(x: np.ndarray) -> np.ndarray:
    pad = np.concatenate([np.zeros(N_FFT // 2), x, np.zeros(N_FFT // 2)])
    count = 1 + (len(pad) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(count)[:, None]
    return pad[idx] * np.hanning(N_FFT)[None, :]


def spectrogram(samples: np.ndarray) -> np.ndarray:
    """(frames, bins) log-compressed magnitudes of mono samples (any scale)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=0)
    x = x / (np.abs(x).max() or 1.0)
    return np.log1p(100.0 * np.abs(np.fft.rfft(_frames(x), axis=1)))


def onset_envelope(samples: np.ndarray) -> np.ndarray:
    """Spectral flux per frame (frame i is centred on sample i * HOP), a local mean taken off."""
    mag = spectrogram(samples)
    flux = np.maximum(np.diff(mag, axis=0, prepend=mag[:1]), 0.0).sum(axis=1)
    window = max(1, round(0.1 * SAMPLE_RATE / HOP))  # 100 ms
    local = np.convolve(flux, np.ones(window) / window, mode="same")
    return np.maximum(flux - local, 0.0)


def _autocorrelation(env: np.ndarray) -> np.ndarray:
    x = env - env.mean()
    size = 1 << int(np.ceil(np.log2(2 * len(x))))
    spectrum = np.fft.rfft(x, size)
    ac = np.fft.irfft(spectrum * np.conj(spectrum), size)[: len(x)]
    ac /= np.arange(len(x), 0, -1)  # unbiased: long lags average fewer products
    return ac / (ac[0] or 1.0)


def _comb(ac: np.ndarray, period_frames: np.ndarray) -> np.ndarray:
    teeth = np.arange(1, COMB_TEETH + 1)[:, None] * period_frames[None, :]
    usable = teeth < len(ac) - 1
    values = np.interp(np.where(usable, teeth, 0), np.arange(len(ac)), ac)
    return np.where(usable, values, 0).sum(axis=0) / np.maximum(usable.sum(axis=0), 1)


def estimate_bpm(samples: np.ndarray, lo: float = MIN_BPM, hi: float = MAX_BPM) -> float:
    """The tempo of `samples` in BPM (within lo..hi), from the onset envelope's periodicity."""
    ac = _autocorrelation(onset_envelope(samples))
    frame_rate = SAMPLE_RATE / HOP
    bpms = np.arange(lo, hi + 1e-9, 0.01)
    scores = _comb(ac, 60.0 * frame_rate / bpms)
    best = float(bpms[np.argmax(scores)])
    # The comb at a half tempo also lands on every beat; take the faster one when its score is
    # as good (the beat, not the half bar).
    double = 2 * best
    if double <= hi:
        near = np.abs(bpms - double) <= 0.02 * double
        if near.any() and scores[near].max() >= 0.8 * scores.max():
            best = float(bpms[near][np.argmax(scores[near])])
    return best


def fold_octave(estimate: float, planned: float) -> float:
    """`estimate` times the power of two that brings it closest to `planned`."""
    return estimate * 2.0 ** round(np.log2(planned / estimate))


@dataclass(frozen=True)
class Onsets:
    times_s: np.ndarray
    strength: np.ndarray  # relative to the strongest onset (0..1]


def onset_times(samples: np.ndarray, threshold: float = 0.2) -> Onsets:
    """Peaks of the onset envelope above `threshold` of a typical strong peak (the 90th
    percentile of all peaks, so one edge artefact does not hide the rest), to sub-frame
    precision."""
    env = onset_envelope(samples)
    peaks = np.flatnonzero((env[1:-1] > env[:-2]) & (env[1:-1] >= env[2:])) + 1
    if not len(peaks):
        return Onsets(times_s=np.zeros(0), strength=np.zeros(0))
    top = float(np.percentile(env[peaks], 90)) or 1.0
    peaks = peaks[env[peaks] >= threshold * top]
    left, mid, right = env[peaks - 1], env[peaks], env[peaks + 1]
    denom = left - 2 * mid + right
    shift = np.where(denom != 0, 0.5 * (left - right) / np.where(denom != 0, denom, 1), 0.0)
    return Onsets(times_s=(peaks + shift) * HOP / SAMPLE_RATE, strength=mid / top)


@dataclass(frozen=True)
class BeatCheck:
    planned: int  # beats on the grid within the audio
    found: int  # beats with a strong onset within an eighth of a beat
    offsets_ms: np.ndarray  # onset - planned beat, per found beat
    planned_s: np.ndarray  # the planned time of each found beat

    @property
    def lag_ms(self) -> float:
        """The median offset: the detector's (and the decoder's) constant lag."""
        return float(np.median(self.offsets_ms)) if self.found else float("nan")

    @property
    def max_deviation_ms(self) -> float:
        """The largest distance of a beat from the grid once the constant lag is taken off."""
        if not self.found:
            return float("nan")
        return float(np.abs(self.offsets_ms - self.lag_ms).max())


def beat_deviations(samples: np.ndarray, bpm: float, origin_s: float = 0.0) -> BeatCheck:
    """Where the beats of the planned grid (origin_s + k * 60 / bpm) actually are."""
    onsets = onset_times(samples)
    duration = len(np.asarray(samples).reshape(-1, np.shape(samples)[-1])[0]) / SAMPLE_RATE
    beat = 60.0 / bpm
    planned = origin_s + beat * np.arange(int((duration - origin_s) / beat) + 1)
    planned = planned[planned < duration - 0.05]
    offsets, kept = [], []
    for t in planned:
        near = np.abs(onsets.times_s - t) <= beat / 8
        if near.any():
            idx = np.flatnonzero(near)
            best = idx[np.argmax(onsets.strength[idx])]  # the beat's strongest onset
            offsets.append(onsets.times_s[best] - t)
            kept.append(t)
    return BeatCheck(
        planned=len(planned),
        found=len(offsets),
        offsets_ms=1000.0 * np.asarray(offsets),
        planned_s=np.asarray(kept),
    )
