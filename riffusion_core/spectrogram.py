"""Audio samples <-> mel spectrogram tensors (format doc, sections 1 and 4), device-agnostic.

The forward direction is torchaudio's Spectrogram + MelScale with the reference settings, so
images match the published ones pixel for pixel. The inverse direction precomputes everything
that depends only on the parameters (the filterbank inverse, the window) once per device.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Literal

import torch
import torchaudio

from riffusion_core.errors import AudioDecodeError, SpectrogramImageError
from riffusion_core.inverse_mel import NonNegativeInverseMel
from riffusion_core.phase import FastPhase, FastPhaseSettings
from riffusion_core.spectrogram_params import SpectrogramParams

Method = Literal["fast", "griffinlim"]
METHODS: tuple[Method, ...] = ("fast", "griffinlim")

GRIFFIN_LIM_ITERATIONS = 32
GRIFFIN_LIM_MOMENTUM = 0.99


class SpectrogramConverter:
    """Mel spectrogram maths for one parameter set on one device (build once, reuse)."""

    def __init__(self, params: SpectrogramParams, device: str | torch.device = "cpu") -> None:
        self.params = params
        self.device = torch.device(device)
        self.spectrogram = torchaudio.transforms.Spectrogram(
            n_fft=params.n_fft,
            win_length=params.win_length,
            hop_length=params.hop_length,
            power=1.0,
            center=True,
            pad_mode="reflect",
        ).to(self.device)
        with warnings.catch_warnings():  # empty bins are reported below, in words
            warnings.filterwarnings("ignore", "At least one mel filterbank has all zero values")
            self.mel_scale = torchaudio.transforms.MelScale(
                n_mels=params.num_frequencies,
                sample_rate=params.sample_rate,
                f_min=params.min_frequency,
                f_max=params.max_frequency,
                n_stft=params.n_fft // 2 + 1,
                norm=None,
                mel_scale="htk",
            ).to(self.device)
        empty = int((self.mel_scale.fb.sum(dim=0) == 0).sum())
        if empty:  # a bin with no frequency in it cannot be read back (singular inverse)
            raise SpectrogramImageError(
                f"{params.num_frequencies} mel bins are too many for {params.min_frequency}-"
                f"{params.max_frequency} Hz: {empty} of them would hold no frequency; use fewer "
                "mel bins or a wider frequency range."
            )
        self.inverse_mel = NonNegativeInverseMel(self.mel_scale.fb, self.device)
        self.window = torch.hann_window(params.win_length, periodic=True, device=self.device)
        self.fast_phase = FastPhase(params, self.window, self.inverse_mel)

    def mel_from_samples(self, samples: torch.Tensor) -> torch.Tensor:
        """(C, n_mels, 1 + N // hop) magnitudes of (C, N) float samples in int16 units."""
        num_samples = samples.shape[-1]
        if num_samples == 0:
            raise AudioDecodeError("The audio is empty: there is nothing to turn into an image.")
        samples = samples.to(self.device, torch.float32)
        min_length = self.params.n_fft // 2 + 1  # reflect padding needs more than n_fft / 2
        if num_samples < min_length:
            samples = torch.nn.functional.pad(samples, (0, min_length - num_samples))
        with torch.inference_mode():
            mel = self.mel_scale(self.spectrogram(samples))
        return mel[..., : self.params.num_frames(num_samples)]

    def samples_from_mel(
        self,
        mel: torch.Tensor,
        *,
        method: Method = "fast",
        seed: int | None = None,
        fast_settings: FastPhaseSettings | None = None,
    ) -> torch.Tensor:
        """(C, hop * (T - 1)) float samples (arbitrary scale) for (C, n_mels, T) magnitudes."""
        if method not in METHODS:
            raise ValueError(f"Unknown reconstruction method {method!r}; use one of {METHODS}.")
        mel = mel.to(self.device, torch.float32)
        length = self.params.num_samples(mel.shape[-1])
        # The STFT's reflect padding needs more than n_fft / 2 samples: pad short images with
        # silent columns and cut the audio back afterwards.
        min_frames = self.params.n_fft // (2 * self.params.hop_length) + 2
        if mel.shape[-1] < min_frames:
            mel = torch.nn.functional.pad(mel, (0, min_frames - mel.shape[-1]))
        padded_length = self.params.num_samples(mel.shape[-1])
        with torch.inference_mode():
            if method == "griffinlim":
                samples = self._griffin_lim(mel, seed=seed, length=padded_length)
            else:
                samples = self.fast_phase(
                    mel,
                    length=padded_length,
                    seed=seed,
                    settings=fast_settings or FastPhaseSettings(),
                )
        return samples[..., :length]

    def _griffin_lim(self, mel: torch.Tensor, *, seed: int | None, length: int) -> torch.Tensor:
        """The reference: random phase, 32 iterations of torchaudio's Griffin-Lim."""
        linear = self.inverse_mel(mel)
        with _seeded(seed, self.device):
            return torchaudio.functional.griffinlim(
                linear,
                window=self.window,
                n_fft=self.params.n_fft,
                hop_length=self.params.hop_length,
                win_length=self.params.win_length,
                power=1.0,
                n_iter=GRIFFIN_LIM_ITERATIONS,
                momentum=GRIFFIN_LIM_MOMENTUM,
                length=length,
                rand_init=True,
            )


@contextlib.contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Run with torch's global RNG seeded (restored afterwards); unseeded when seed is None."""
    if seed is None:
        yield
        return
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
