"""slerp: the way two seeds' noises are blended."""

import math

import pytest
import torch

from riffusion_core.interpolation import slerp


def randn(seed, shape=(1, 4, 8, 8)):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_endpoints_are_exact():
    a, b = randn(0), randn(1)
    assert torch.equal(slerp(0.0, a, b), a)
    assert torch.equal(slerp(1.0, a, b), b)


@pytest.mark.parametrize("t", [0.1, 0.25, 0.5, 0.9])
def test_unit_vectors_stay_unit(t):
    a, b = randn(2), randn(3)
    a, b = a / a.norm(), b / b.norm()
    assert slerp(t, a, b).norm().item() == pytest.approx(1.0, abs=1e-5)


def test_midpoint_of_orthogonal_vectors():
    a = torch.tensor([1.0, 0.0])
    b = torch.tensor([0.0, 1.0])
    mid = slerp(0.5, a, b)
    assert torch.allclose(mid, torch.tensor([math.sqrt(0.5), math.sqrt(0.5)]))
    # lerp would have shrunk it to norm 0.707
    assert mid.norm().item() == pytest.approx(1.0)


def test_nearly_parallel_falls_back_to_lerp():
    a = randn(4)
    b = a * 2.0  # parallel: angle 0, slerp's formula would divide by sin(0)
    out = slerp(0.5, a, b)
    assert torch.isfinite(out).all()
    assert torch.allclose(out, 1.5 * a)


def test_keeps_dtype_and_shape_and_rejects_mismatch():
    a, b = randn(5).half(), randn(6).half()
    out = slerp(0.3, a, b)
    assert out.dtype == torch.float16 and out.shape == a.shape
    with pytest.raises(ValueError):
        slerp(0.5, randn(0), randn(1, (1, 4, 8, 4)))
