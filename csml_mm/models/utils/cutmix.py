"""CutMix of an anchor batch with its neighbour batch (one box per batch)."""

from typing import Optional, Tuple

import numpy as np
import torch


def sample_cutmix_box(
    height: int, width: int, lam: float, rng: Optional[np.random.Generator] = None
) -> Tuple[int, int, int, int]:
    """A box of area about ``(1 - lam) * H * W`` with a uniform centre, clipped.

    The box has side ratios ``sqrt(1 - lam)`` of the image height and width
    (Yun et al. 2019). Unlike the CsMl code, height and width are not swapped,
    so non-square images work too.

    Returns:
        ``(top, left, bottom, right)`` in pixels, half-open.
    """
    rng = rng if rng is not None else np.random.default_rng(np.random.randint(2**31))
    cut = float(np.sqrt(1.0 - lam))
    ch, cw = int(height * cut), int(width * cut)
    cy, cx = int(rng.integers(height)), int(rng.integers(width))
    top, bottom = int(np.clip(cy - ch // 2, 0, height)), int(np.clip(cy + ch // 2, 0, height))
    left, right = int(np.clip(cx - cw // 2, 0, width)), int(np.clip(cx + cw // 2, 0, width))
    return top, left, bottom, right


def cutmix_pair(
    anchor: torch.Tensor,
    other: torch.Tensor,
    alpha: float = 2.0,
    rng: Optional[np.random.Generator] = None,
) -> Tuple[torch.Tensor, float]:
    """Paste one random box of ``other`` into ``anchor`` (same box for the whole batch).

    ``lam0 ~ Beta(alpha, alpha)`` sets the box size; the returned ``lam`` is the
    fraction of the image that still comes from ``anchor`` after clipping:
    ``lam = 1 - box_area / (H * W)``.

    Args:
        anchor: [N, C, H, W] views of the anchors.
        other: [N, C, H, W] views of their neighbours.

    Returns:
        The mixed batch (a new tensor) and ``lam``.
    """
    if anchor.shape != other.shape:
        raise ValueError(
            f'cutmix_pair: shapes differ, {tuple(anchor.shape)} vs {tuple(other.shape)}.'
        )
    rng = rng if rng is not None else np.random.default_rng(np.random.randint(2**31))
    h, w = anchor.shape[-2:]
    lam0 = float(rng.beta(alpha, alpha))
    top, left, bottom, right = sample_cutmix_box(h, w, lam0, rng)
    mixed = anchor.clone()
    mixed[..., top:bottom, left:right] = other[..., top:bottom, left:right]
    lam = 1.0 - (bottom - top) * (right - left) / float(h * w)
    return mixed, lam
