"""Products with a banded matrix (the mel filterbank) without multiplying its zeros.

Each mel triangle covers a contiguous run of at most a few dozen STFT bins, so the dense
(n_mels x n_bins) products of the inverse mel spend over 90 % of their work on zeros. Cutting
the matrix into row blocks, each with only the columns it touches, keeps plain dense matmuls
(deterministic, same code on every device) at a fraction of the cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class _Block:
    rows: slice
    cols: slice
    values: torch.Tensor  # (rows, cols) dense part of the matrix
    transposed: torch.Tensor  # values.T, contiguous


class BandedMatrix:
    """A matrix whose rows' non-zeros are contiguous and move along the diagonal."""

    def __init__(self, matrix: torch.Tensor, device: torch.device, block_rows: int = 32) -> None:
        self.shape = (matrix.shape[0], matrix.shape[1])
        self.blocks: list[_Block] = []
        for start in range(0, matrix.shape[0], block_rows):
            rows = slice(start, min(start + block_rows, matrix.shape[0]))
            used = torch.nonzero(matrix[rows].abs().sum(dim=0)).flatten()
            if used.numel() == 0:
                continue  # all-zero rows: their products stay zero
            cols = slice(int(used.min()), int(used.max()) + 1)
            values = matrix[rows, cols].to(device, torch.float32)
            self.blocks.append(_Block(rows, cols, values.contiguous(), values.T.contiguous()))

    def matmul(self, x: torch.Tensor) -> torch.Tensor:
        """A @ x for x of shape (..., n_cols, T)."""
        out = x.new_zeros((*x.shape[:-2], self.shape[0], x.shape[-1]))
        for block in self.blocks:
            out[..., block.rows, :] = torch.matmul(block.values, x[..., block.cols, :])
        return out

    def rmatmul(self, y: torch.Tensor) -> torch.Tensor:
        """A.T @ y for y of shape (..., n_rows, T)."""
        out = y.new_zeros((*y.shape[:-2], self.shape[1], y.shape[-1]))
        for block in self.blocks:
            out[..., block.cols, :] += torch.matmul(block.transposed, y[..., block.rows, :])
        return out
