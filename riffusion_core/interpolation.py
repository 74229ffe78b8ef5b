"""Spherical interpolation of noise tensors (the way Riffusion blends two seeds).

Gaussian noise lives near a sphere; a straight lerp between two noises shrinks the norm in the
middle (a blurry, quiet render), slerp keeps it. The whole tensor is treated as one vector.
"""

from __future__ import annotations

import torch

PARALLEL_THRESHOLD = 0.9995


def slerp(
    t: float, v0: torch.Tensor, v1: torch.Tensor, dot_threshold: float = PARALLEL_THRESHOLD
) -> torch.Tensor:
    """Spherical interpolation from v0 (t=0) to v1 (t=1); lerp when the two are nearly parallel.

    The endpoints are returned exactly, so alpha 0 or 1 renders the same as a single prompt.
    """
    if v0.shape != v1.shape:
        raise ValueError(f"slerp needs equal shapes, got {tuple(v0.shape)} and {tuple(v1.shape)}")
    if t <= 0:
        return v0.clone()
    if t >= 1:
        return v1.clone()
    a = v0.double().flatten()
    b = v1.double().flatten()
    norms = a.norm() * b.norm()
    dot = float((a @ b) / norms) if norms > 0 else 1.0
    if abs(dot) > dot_threshold:
        out = (1 - t) * v0.double() + t * v1.double()
    else:
        theta = torch.arccos(torch.tensor(dot, dtype=torch.float64))
        sin_theta = torch.sin(theta)
        s0 = torch.sin((1 - t) * theta) / sin_theta
        s1 = torch.sin(t * theta) / sin_theta
        out = s0 * v0.double() + s1 * v1.double()
    return out.to(v0.dtype)
