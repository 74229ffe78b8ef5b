"""Mel magnitudes back to linear STFT magnitudes (format doc, section 4, step 1).

Kept apart from the forward maths so that the phase reconstruction (which needs the inverse) and
the spectrogram converter (which builds it) both depend on it, and not on each other.
"""

from __future__ import annotations

import torch

from riffusion_core.banded import BandedMatrix


class NonNegativeInverseMel:
    """Linear magnitudes from mel magnitudes, non-negative, with a precomputed inverse.

    The mel system is underdetermined (n_mels equations, one unknown per STFT bin) and the
    filterbank A is full rank, so its pseudo-inverse A.T (A A.T)^-1 gives the minimum-norm
    solution. A is banded (each triangle covers a short run of bins) and A A.T is a small
    (n_mels x n_mels) matrix, so both products are cheap, unlike the dense (n_bins x n_mels)
    pseudo-inverse. Clamping at 0 breaks the equations slightly; a few alternating projections
    (onto {x : A x = mel} with the same pseudo-inverse, then onto x >= 0) restore them. Only the
    bins inside the mel range carry weight; the others stay 0.
    """

    def __init__(
        self, filterbank: torch.Tensor, device: torch.device, projections: int = 3
    ) -> None:
        fb = filterbank.detach().to("cpu", torch.float64)  # (n_freqs, n_mels)
        active = torch.nonzero(fb.sum(dim=1) > 0).flatten()
        self.n_freqs = fb.shape[0]
        self.lo = int(active.min())
        self.hi = int(active.max()) + 1
        forward = fb[self.lo : self.hi].T.contiguous()  # (n_mels, n_active)
        self.forward = BandedMatrix(forward, device)
        # Inverted on the CPU in float64 once: no cuSOLVER needed, and no per-call solve.
        self.gram_inverse = torch.linalg.inv(forward @ forward.T).to(device, torch.float32)
        self.projections = projections

    def active(self, mel: torch.Tensor) -> torch.Tensor:
        """(..., n_active, T) magnitudes of the bins the filterbank covers."""
        solution = self.pseudo_inverse(mel).clamp_(min=0)
        for _ in range(self.projections):
            solution = self.project(solution, mel)
        return solution

    def pseudo_inverse(self, mel: torch.Tensor) -> torch.Tensor:
        """Minimum-norm (..., n_active, T) magnitudes x with A x = `mel` (may be negative)."""
        return self.forward.rmatmul(torch.matmul(self.gram_inverse, mel))

    def project(self, magnitudes: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """Nearest magnitudes (active bins) whose mel equals `mel`, then clamped at 0."""
        residual = mel - self.forward.matmul(magnitudes)
        return magnitudes.add_(self.pseudo_inverse(residual)).clamp_(min=0)

    def embed(self, active: torch.Tensor) -> torch.Tensor:
        """Full (..., n_freqs, T) magnitudes from active-bin magnitudes (zeros elsewhere)."""
        shape = (*active.shape[:-2], self.n_freqs, active.shape[-1])
        full = active.new_zeros(shape)
        full[..., self.lo : self.hi, :] = active
        return full

    def __call__(self, mel: torch.Tensor) -> torch.Tensor:
        return self.embed(self.active(mel))
