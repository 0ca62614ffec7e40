"""Small fixes for running mmcv 2.1 on numpy 2 (applied by ``import csml_mm``)."""

from typing import Optional

import numpy as np


def hue_shift(hue_factor: float) -> int:
    """The hue shift of ``mmcv.adjust_hue`` as a uint8 rotation in [0, 255].

    mmcv adds ``np.uint8(hue_factor * 255)`` to the uint8 hue channel and relies
    on wrap-around; numpy 1 turned a negative shift into ``shift + 256``, numpy 2
    raises ``OverflowError`` instead.
    """
    return int(hue_factor * 255) % 256


def adjust_hue(img: np.ndarray, hue_factor: float, backend: Optional[str] = None) -> np.ndarray:
    """``mmcv.adjust_hue`` with the numpy-2-safe shift (same arguments and results)."""
    import cv2
    from mmcv.image import io as mmcv_io
    from PIL import Image

    backend = backend or mmcv_io.imread_backend
    if backend not in ('cv2', 'pillow'):
        raise ValueError(
            f"backend: {backend} is not supported. Supported backends are 'cv2', 'pillow'"
        )
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'hue_factor:{hue_factor} is not in [-0.5, 0.5].')
    if not (isinstance(img, np.ndarray) and img.ndim in (2, 3)):
        raise TypeError('img should be ndarray with dim=[2 or 3].')
    shift = np.uint8(hue_shift(hue_factor))
    if backend == 'pillow':
        if img.dtype != np.uint8:
            raise TypeError('The pillow backend of adjust_hue needs uint8 images.')
        pil = Image.fromarray(img[..., ::-1], mode='RGB')
        h, s, v = pil.convert('HSV').split()
        hue = np.array(h, dtype=np.uint8) + shift  # uint8 arithmetic wraps around
        out = Image.merge('HSV', (Image.fromarray(hue, 'L'), s, v)).convert('RGB')
        return np.array(out, dtype=img.dtype)[..., ::-1]
    dtype = img.dtype
    hsv = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)
    h, s, v = cv2.split(hsv)
    h = h.astype(np.uint8) + shift
    return cv2.cvtColor(cv2.merge([h, s, v]), cv2.COLOR_HSV2BGR_FULL).astype(dtype)


def _numpy_rejects_negative_uint8() -> bool:
    try:
        np.uint8(-1)
    except OverflowError:
        return True
    return False


def patch_mmcv_for_numpy2() -> bool:
    """Route ``mmcv.adjust_hue`` (used by mmpretrain's ``ColorJitter``) through
    :func:`adjust_hue` when numpy refuses negative uint8 values. Returns whether
    the patch was applied."""
    if not _numpy_rejects_negative_uint8():
        return False
    import mmcv
    import mmcv.image
    import mmcv.image.photometric

    for mod in (mmcv, mmcv.image, mmcv.image.photometric):
        mod.adjust_hue = adjust_hue
    return True
