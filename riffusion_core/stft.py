"""Short-time Fourier transform pair for the phase iterations, in (C, frames, bins) layout.

Equal to torch.stft / torch.istft with center=True, reflect padding and a window shorter than
(or as long as) the FFT centred in the frame, but cheaper for the many iterations of Griffin-Lim:
- only the window's samples are framed and transformed (the FFT zero-pads them; the phase of
  the centred window is restored with a cached ramp), so the n_fft-long frames of torch.stft are
  never materialised;
- callers can keep only the bins that carry magnitude (below the mel range's top), and the
  inverse zero-fills the rest inside the FFT;
- the overlap-add is a few strided additions, and the window-square envelope it divides by is
  computed once per signal length (torch.istft rebuilds it on every call);
- frames stay in the last dimension, so no transposes are needed between iterations.
"""

from __future__ import annotations

import math

import torch


class FrameTransform:
    """STFT and inverse STFT for one window, hop and FFT size on the window's device."""

    def __init__(self, window: torch.Tensor, *, hop: int, n_fft: int) -> None:
        win = window.shape[0]
        if win > n_fft:
            raise ValueError(f"window ({win}) longer than the FFT ({n_fft})")
        self.window = window
        self.hop = hop
        self.n_fft = n_fft
        self.win = win
        self.offset = (n_fft - win) // 2  # where torch.stft puts the window inside the frame
        self.blocks = math.ceil(win / hop)  # hop-sized blocks one frame spans
        self._envelopes: dict[int, torch.Tensor] = {}
        self._ramps: dict[int, torch.Tensor] = {}

    def frames(self, samples: torch.Tensor) -> int:
        """Number of STFT frames for (..., N) samples: 1 + N // hop."""
        return 1 + samples.shape[-1] // self.hop

    def forward(self, samples: torch.Tensor, bins: int | None = None) -> torch.Tensor:
        """(C, T, bins) complex STFT of (C, N) samples (T = 1 + N // hop), first `bins` bins."""
        bins = self.n_fft // 2 + 1 if bins is None else bins
        half = self.win // 2
        padded = torch.nn.functional.pad(samples[:, None], (half, half), mode="reflect")[:, 0]
        frames = padded.unfold(-1, self.win, self.hop) * self.window
        spec = torch.fft.rfft(frames, n=self.n_fft)[..., :bins]
        if self.offset:
            spec = spec * self._ramp(bins)
        return spec

    def inverse(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """(C, length) samples from a (C, T, bins) STFT (missing high bins count as zero)."""
        channels, num_frames = spec.shape[0], spec.shape[1]
        frames = torch.fft.irfft(spec, n=self.n_fft)[..., self.offset : self.offset + self.win]
        frames = frames * self.window
        span = self.blocks * self.hop
        if span != self.win:
            frames = torch.nn.functional.pad(frames, (0, span - self.win))
        blocks = frames.view(channels, num_frames, self.blocks, self.hop)
        summed = frames.new_zeros(channels, num_frames + self.blocks - 1, self.hop)
        for block in range(self.blocks):
            summed[:, block : block + num_frames] += blocks[:, :, block]
        half = self.win // 2
        signal = summed.view(channels, -1)[:, half : half + length]
        return signal * self._inverse_envelope(num_frames, length)

    def _inverse_envelope(self, num_frames: int, length: int) -> torch.Tensor:
        """1 / (overlap-added squared window), cached per (frames, length)."""
        key = num_frames * 1_000_003 + length
        envelope = self._envelopes.get(key)
        if envelope is None:
            square = (self.window.double() ** 2)[None, None].expand(1, num_frames, self.win)
            span = self.blocks * self.hop
            square = torch.nn.functional.pad(square, (0, span - self.win))
            blocks = square.reshape(1, num_frames, self.blocks, self.hop)
            summed = square.new_zeros(1, num_frames + self.blocks - 1, self.hop)
            for block in range(self.blocks):
                summed[:, block : block + num_frames] += blocks[:, :, block]
            half = self.win // 2
            total = summed.view(1, -1)[:, half : half + length]
            envelope = torch.where(total > 1e-11, 1.0 / total, 0.0).float()
            self._envelopes[key] = envelope
        return envelope

    def _ramp(self, bins: int) -> torch.Tensor:
        """exp(-2 pi i k offset / n_fft): moves the window from the frame start to its centre."""
        ramp = self._ramps.get(bins)
        if ramp is None:
            k = torch.arange(bins, dtype=torch.float64)
            angle = -2.0 * math.pi * ((k * self.offset) % self.n_fft) / self.n_fft
            ramp = torch.polar(torch.ones_like(angle), angle).to(
                self.window.device, torch.complex64
            )
            self._ramps[bins] = ramp
        return ramp
