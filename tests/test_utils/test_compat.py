"""The numpy-2-safe adjust_hue against a per-pixel HSV reference."""

import colorsys

import numpy as np
import pytest

import csml_mm  # noqa: F401
from csml_mm.utils.compat import adjust_hue, hue_shift


def test_hue_shift_wraps_like_uint8():
    assert hue_shift(0.0) == 0
    assert hue_shift(0.2) == 51
    assert hue_shift(-0.2) == 256 - 51
    assert hue_shift(-0.5) == 256 - 127


@pytest.mark.parametrize('factor', [-0.45, -0.1, 0.0, 0.07, 0.5])
def test_adjust_hue_rotates_hue(factor):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)  # BGR
    out = adjust_hue(img, factor, backend='cv2')
    shift = hue_shift(factor) / 256.0
    for y in range(6):
        for x in range(5):
            b, g, r = img[y, x] / 255.0
            h, s, v = colorsys.rgb_to_hsv(r, g, b)
            ob, og, orr = out[y, x] / 255.0
            oh, os_, ov = colorsys.rgb_to_hsv(orr, og, ob)
            # saturation and value stay, hue moves by the shift (mod 1), up to uint8
            # quantisation of the HSV round trip
            assert ov == pytest.approx(v, abs=0.02)
            if s > 0.2 and v > 0.2:
                d = (oh - h - shift) % 1.0
                assert min(d, 1 - d) < 0.03


def test_mmcv_and_mmpretrain_color_jitter_use_the_fix():
    import mmcv
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import TRANSFORMS

    assert mmcv.adjust_hue is adjust_hue
    init_default_scope('mmpretrain')
    jitter = TRANSFORMS.build(dict(type='ColorJitter', hue=0.5))
    img = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    for _ in range(20):  # negative hue factors included
        assert jitter(dict(img=img.copy()))['img'].shape == (8, 8, 3)
