"""BatchAugDataPreprocessor: crops against interpolate, jitter against a per-image loop, view
order."""

import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import csml_mm  # noqa: F401
from csml_mm.models.utils.batch_augment import colour_jitter, resized_crop, sample_crop_boxes

init_default_scope('mmpretrain')


def test_crop_equals_grid_sample_for_random_boxes_and_flips():
    torch.manual_seed(2)
    img = torch.rand(5, 3, 20, 20) * 255
    boxes = sample_crop_boxes(5, (0.1, 1.0), (0.5, 2.0))
    flip = torch.tensor([True, False, True, False, False])
    theta = torch.zeros(5, 2, 3)
    theta[:, 0, 0] = boxes[:, 2] * (1 - 2 * flip.float())
    theta[:, 0, 2] = boxes[:, 0] * 2 - 1
    theta[:, 1, 1] = boxes[:, 3]
    theta[:, 1, 2] = boxes[:, 1] * 2 - 1
    grid = F.affine_grid(theta, [5, 3, 12, 16], align_corners=False)
    ref = F.grid_sample(img, grid, mode='bilinear', padding_mode='border', align_corners=False)
    torch.testing.assert_close(resized_crop(img, boxes, flip, (12, 16)), ref, rtol=1e-4, atol=1e-2)


def test_integer_crop_equals_bilinear_resize_of_the_crop():
    torch.manual_seed(0)
    img = torch.rand(2, 3, 16, 16) * 255
    # box: columns 2..9 (8 px), rows 4..15 (12 px); as (cx, cy, w, h) fractions of 16
    boxes = torch.tensor([[6 / 16, 10 / 16, 8 / 16, 12 / 16]] * 2)
    out = resized_crop(img, boxes, torch.tensor([False, True]), (24, 24))
    ref = F.interpolate(img[:, :, 4:16, 2:10], size=(24, 24), mode='bilinear', align_corners=False)
    # interior pixels; on the outermost output row/column grid_sample blends in the real
    # pixels just outside the box where interpolate (of the cut-out crop) repeats the edge
    inner = (slice(None), slice(1, -1), slice(1, -1))
    torch.testing.assert_close(out[0][inner], ref[0][inner], rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(out[1][inner], ref[1].flip(-1)[inner], rtol=1e-4, atol=1e-3)
    # the full box without flip is the identity
    full = resized_crop(
        img, torch.tensor([[0.5, 0.5, 1.0, 1.0]] * 2), torch.tensor([False, False]), (16, 16)
    )
    torch.testing.assert_close(full, img, rtol=1e-4, atol=1e-3)


def test_crop_boxes_follow_scale_and_ratio():
    g = torch.Generator().manual_seed(0)
    boxes = sample_crop_boxes(4000, (0.2, 0.6), (3 / 4, 4 / 3), generator=g)
    cx, cy, w, h = boxes.unbind(1)
    assert (cx - w / 2 >= -1e-6).all() and (cx + w / 2 <= 1 + 1e-6).all()
    assert (cy - h / 2 >= -1e-6).all() and (cy + h / 2 <= 1 + 1e-6).all()
    area, ratio = w * h, w / h
    assert area.min() >= 0.2 - 1e-5 and area.max() <= 0.6 + 1e-5  # w, h < 1: no clipping
    assert ratio.min() >= 0.75 - 1e-5 and ratio.max() <= 4 / 3 + 1e-5
    assert abs(area.mean().item() - 0.4) < 0.01  # uniform in area


def test_colour_jitter_matches_a_per_image_loop():
    torch.manual_seed(1)
    x = torch.rand(6, 3, 5, 5) * 255
    g = torch.Generator().manual_seed(3)
    out = colour_jitter(x, 0.4, 0.3, 0.5, prob=0.5, generator=g)
    u = torch.rand(6, 4, generator=torch.Generator().manual_seed(3))
    luma = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
    for i in range(6):
        y = x[i]
        if u[i, 0] < 0.5:
            y = y * (0.6 + 0.8 * u[i, 1])
            m = (y * luma).sum(0).mean()
            y = ((y - m) * (0.7 + 0.6 * u[i, 2]) + m).clamp(0, 255)
            grey = (y * luma).sum(0, keepdim=True)
            y = ((y - grey) * (0.5 + 1.0 * u[i, 3]) + grey).clamp(0, 255)
        torch.testing.assert_close(out[i], y, rtol=1e-5, atol=1e-4)
    assert not torch.equal(out, x) and (out == x).all(dim=(1, 2, 3)).any()


def test_preprocessor_views_order_identity_and_eval():
    cfg = dict(
        type='BatchAugDataPreprocessor',
        views_per_input=2,
        crop_scale=(1.0, 1.0),
        crop_ratio=(1.0, 1.0),
        flip_prob=0.0,
        jitter_prob=0.0,
        gray_prob=0.0,
        mean=[10.0, 20.0, 30.0],
        std=[2.0, 4.0, 8.0],
        to_rgb=True,
    )
    pre = MODELS.build(cfg)
    a = torch.randint(0, 256, (3, 3, 8, 8), dtype=torch.uint8)
    b = torch.randint(0, 256, (3, 3, 8, 8), dtype=torch.uint8)
    out = pre({'inputs': [a, b], 'data_samples': None}, training=True)['inputs']
    mean, std = (
        torch.tensor([10.0, 20.0, 30.0]).view(1, 3, 1, 1),
        torch.tensor([2.0, 4.0, 8.0]).view(1, 3, 1, 1),
    )
    expect_a = (a[:, [2, 1, 0]].float() - mean) / std
    expect_b = (b[:, [2, 1, 0]].float() - mean) / std
    assert len(out) == 4
    for got, want in zip(out, [expect_a, expect_a, expect_b, expect_b]):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-3)
    # eval: one normalised image, no augmentation
    ev = pre({'inputs': [a], 'data_samples': None}, training=False)['inputs']
    torch.testing.assert_close(ev[0], expect_a)
    # a tensor input (PackInputs without MultiView) works too; grey_prob=1 gives grey views
    grey = MODELS.build(dict(cfg, gray_prob=1.0, views_per_input=3))
    views = grey({'inputs': a, 'data_samples': None}, training=True)['inputs']
    assert len(views) == 3
    raw = views[0] * std + mean
    torch.testing.assert_close(raw[:, 0], raw[:, 1], rtol=1e-4, atol=1e-3)


def test_random_views_differ_and_bad_arguments():
    pre = MODELS.build(dict(type='BatchAugDataPreprocessor', mean=[0.0] * 3, std=[1.0] * 3))
    a = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    v0, v1 = pre({'inputs': [a], 'data_samples': None}, training=True)['inputs']
    assert v0.shape == (4, 3, 16, 16) and not torch.allclose(v0, v1)
    with pytest.raises(ValueError, match='views_per_input'):
        MODELS.build(dict(type='BatchAugDataPreprocessor', views_per_input=0))
    with pytest.raises(ValueError, match='crop_scale'):
        MODELS.build(dict(type='BatchAugDataPreprocessor', crop_scale=(0.0, 1.0)))
    assert math.isclose(pre.crop_scale[0], 0.2)
