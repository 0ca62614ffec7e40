"""APS data side: geometry-recording crop, per-view multi-view wrapper, sparse and
selective patch sampling (checked against plain-loop references)."""

import itertools

import mmcv
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.dataset import default_collate
from mmengine.registry import init_default_scope
from mmpretrain.datasets.transforms import RandomResizedCrop

import csml_mm  # noqa: F401
from csml_mm.datasets.transforms import (
    MultiViewWithKeys,
    RandomResizedCropWithBox,
    SelectivePatchSampling,
    SparsePatchSampling,
    covered_fraction,
    sample_without_replacement,
    selection_probabilities,
    sparse_patch_ids,
)

init_default_scope('mmpretrain')


# ----------------------------------------------------------------- references
def _ref_covered(ids1, box1, g1, box2, g2, flip1=(False, False), flip2=(False, False)):
    """Plain loops: rectangle of every chosen view-1 cell against every view-2 cell."""

    def cell_rect(box, grid, flip, r, c):
        rows, cols = grid
        if flip[0]:
            c = cols - 1 - c
        if flip[1]:
            r = rows - 1 - r
        top, left, h, w = box
        return top + r * h / rows, left + c * w / cols, h / rows, w / cols

    rows2, cols2 = g2
    out = np.zeros(rows2 * cols2)
    for cell2 in range(rows2 * cols2):
        y2, x2, h2, w2 = cell_rect(box2, g2, flip2, cell2 // cols2, cell2 % cols2)
        covered = 0.0
        for cell1 in ids1:
            y1, x1, h1, w1 = cell_rect(box1, g1, flip1, cell1 // g1[1], cell1 % g1[1])
            dy = min(y1 + h1, y2 + h2) - max(y1, y2)
            dx = min(x1 + w1, x2 + w2) - max(x1, x2)
            if dy > 0 and dx > 0:
                covered += dy * dx
        out[cell2] = min(covered / (h2 * w2), 1.0)
    return out


def _inclusion_probabilities(weights, n):
    """Exact inclusion probabilities of successive sampling without replacement."""
    k = len(weights)
    incl = np.zeros(k)
    for seq in itertools.permutations(range(k), n):
        prob, left = 1.0, float(sum(weights))
        for i in seq:
            prob *= weights[i] / left
            left -= weights[i]
        for i in seq:
            incl[i] += prob
    return incl


def _two_view_results(box1, box2, ids1, size=32, flips=(False, False), dirs=None):
    img = np.zeros((size, size, 3), np.uint8)
    return dict(
        img=[img, img.copy()],
        crop_box=[np.array(box1, float), np.array(box2, float)],
        flip=list(flips),
        flip_direction=list(dirs or [None, None]),
        patch_ids=[None if ids1 is None else np.asarray(ids1), None],
    )


# --------------------------------------------------------------------- sparse
@pytest.mark.parametrize(
    'grid,ratio,rounds',
    [((16, 16), 0.25, 4), ((14, 14), 0.25, 4), ((8, 8), 0.2, 3), ((4, 6), 0.5, 2)],
)
def test_sparse_rounds_are_disjoint_and_cover_the_grid(grid, ratio, rounds):
    np.random.seed(0)
    g = grid[0] * grid[1]
    ids = sparse_patch_ids(g, ratio, rounds)
    n = int(g * ratio)
    assert ids.shape == (rounds, n) and ids.dtype == np.int64
    flat = ids.ravel()
    assert len(set(flat.tolist())) == rounds * n  # disjoint rounds
    assert flat.min() >= 0 and flat.max() < g
    if abs(ratio * rounds - 1) < 1e-9 and g % rounds == 0:
        assert sorted(flat.tolist()) == list(range(g))  # the rounds cover the grid


def test_sparse_transform_grid_from_image_and_patch_size():
    t = SparsePatchSampling(patch_size=4, ratio=0.25, rounds=4)
    res = t(dict(img=[np.zeros((32, 32, 3), np.uint8)] * 2))
    ids = res['patch_ids'][0]
    assert ids.shape == (4, 16) and res['patch_ids'][1] is None
    assert sorted(ids.ravel().tolist()) == list(range(64))


def test_bad_inputs_have_clear_errors():
    with pytest.raises(ValueError, match='ratio x rounds'):
        SparsePatchSampling(patch_size=2, ratio=0.3, rounds=4)
    with pytest.raises(ValueError, match='not divisible by the patch size'):
        SparsePatchSampling(patch_size=5)(dict(img=[np.zeros((32, 32, 3), np.uint8)] * 2))
    with pytest.raises(ValueError, match='multi-view'):
        SparsePatchSampling(patch_size=4)(dict(img=np.zeros((32, 32, 3), np.uint8)))
    # mmpretrain's MultiView drops the crop boxes: the selective sampler names the fix.
    pipeline = Compose(
        [
            dict(
                type='MultiView',
                num_views=2,
                transforms=[[dict(type='RandomResizedCrop', scale=32)]],
            ),
            dict(type='SparsePatchSampling', patch_size=4),
            dict(type='SelectivePatchSampling', patch_size=4),
        ]
    )
    with pytest.raises(KeyError, match='RandomResizedCropWithBox'):
        pipeline(dict(img=np.zeros((40, 40, 3), np.uint8)))
    # Boxes collected but the crop does not record them (plain RandomResizedCrop).
    pipeline = Compose(
        [
            dict(
                type='MultiViewWithKeys',
                num_views=2,
                transforms=[[dict(type='RandomResizedCrop', scale=32)]],
            ),
            dict(type='SparsePatchSampling', patch_size=4),
            dict(type='SelectivePatchSampling', patch_size=4, flip_aware=False),
        ]
    )
    with pytest.raises(KeyError, match='no crop_box'):
        pipeline(dict(img=np.zeros((40, 40, 3), np.uint8)))
    with pytest.raises(KeyError, match='SparsePatchSampling'):
        SelectivePatchSampling(patch_size=4)(_two_view_results((0, 0, 8, 8), (0, 0, 8, 8), None))


# ------------------------------------------------------------------ selective
def test_covered_fraction_matches_loop_reference():
    rng = np.random.default_rng(0)
    for trial in range(25):
        g1 = tuple(int(v) for v in rng.integers(2, 7, size=2))
        g2 = tuple(int(v) for v in rng.integers(2, 7, size=2))
        box1 = (rng.uniform(0, 20), rng.uniform(0, 20), rng.uniform(3, 30), rng.uniform(3, 30))
        box2 = (rng.uniform(0, 20), rng.uniform(0, 20), rng.uniform(3, 30), rng.uniform(3, 30))
        flip1 = tuple(bool(v) for v in rng.integers(0, 2, size=2))
        flip2 = tuple(bool(v) for v in rng.integers(0, 2, size=2))
        rounds = [
            rng.choice(g1[0] * g1[1], size=max(1, g1[0] * g1[1] // 3), replace=False)
            for _ in range(2)
        ]
        got = covered_fraction(np.stack(rounds), box1, g1, box2, g2, flip1, flip2)
        for j in range(2):
            ref = _ref_covered(rounds[j], box1, g1, box2, g2, flip1, flip2)
            np.testing.assert_allclose(got[j], ref, atol=1e-9, err_msg=f'trial {trial}')


def test_selective_probabilities_on_hand_built_boxes():
    g = 4
    ids1 = np.array([[0, 5, 10, 15], [1, 2, 3, 4]])  # 2 rounds of 4 of a 4x4 grid
    t = SelectivePatchSampling(patch_size=8, power=3.0)
    # Identical boxes: view 1's cells are fully covered, the 12 others equally free.
    p = t.probabilities(_two_view_results((0, 0, 32, 32), (0, 0, 32, 32), ids1))
    for j in range(2):
        expected = np.full(g * g, 1 / 12)
        expected[ids1[j]] = 0.0
        np.testing.assert_allclose(p[j], expected)
    # Disjoint boxes: nothing covered, uniform.
    p = t.probabilities(_two_view_results((0, 0, 16, 16), (100, 100, 16, 16), ids1))
    np.testing.assert_allclose(p, np.full((2, g * g), 1 / 16))
    # Identical boxes, view 2 flipped horizontally: the covered cells are the mirror
    # images (column c -> 3 - c) of view 1's.
    res = _two_view_results(
        (0, 0, 32, 32), (0, 0, 32, 32), ids1, flips=(False, True), dirs=[None, 'horizontal']
    )
    p = t.probabilities(res)
    mirrored = (ids1 // g) * g + (g - 1 - ids1 % g)
    for j in range(2):
        expected = np.full(g * g, 1 / 12)
        expected[mirrored[j]] = 0.0
        np.testing.assert_allclose(p[j], expected)
    # The released code ignores the flip: zero on the un-mirrored ids.
    p = SelectivePatchSampling(patch_size=8, flip_aware=False).probabilities(res)
    for j in range(2):
        assert set(np.flatnonzero(p[j] == 0).tolist()) == set(ids1[j].tolist())
    # View 2 shifted by half a cell to the right: covered fractions 1/2, weights
    # (1/2)^3 against 1 for free cells.
    ids = np.array([[5]])  # one cell, row 1 col 1 (pixels 8-16 x 8-16)
    res = _two_view_results((0, 0, 32, 32), (0, 4, 32, 32), ids)
    p = t.probabilities(res)[0]
    w = np.ones(16)
    w[[4, 5]] = 0.5**3  # view-2 cells of row 1, cols 0 and 1 are half covered
    np.testing.assert_allclose(p, w / w.sum())
    np.testing.assert_allclose(p, selection_probabilities(t.covered(res), 3.0)[0])


def test_sampling_without_replacement_law():
    weights = np.array([1.0, 2.0, 3.0, 4.0, 0.0])
    n, trials = 2, 20000
    np.random.seed(1)
    draws = sample_without_replacement(np.tile(weights, (trials, 1)), n)
    assert (np.diff(draws, axis=1) > 0).all()  # distinct (and sorted)
    freq = np.bincount(draws.ravel(), minlength=5) / trials
    expected = _inclusion_probabilities(weights, n)
    np.testing.assert_allclose(freq, expected, atol=0.015)
    assert freq[4] == 0  # zero weight never taken while enough cells are free
    # Fewer free cells than n: all free ones plus random covered ones; never fails.
    w = np.array([[0, 0, 5.0, 0, 0, 0]])
    picks = [tuple(sample_without_replacement(w, 3)[0]) for _ in range(300)]
    assert all(2 in p and len(set(p)) == 3 for p in picks)
    assert len(set(picks)) > 5  # the covered fill-ins vary
    with pytest.raises(ValueError, match='Cannot draw'):
        sample_without_replacement(w, 7)


def test_selective_sampling_avoids_view1_patches_over_random_crops():
    """Mean covered fraction of the chosen view-2 cells: selective << uniform."""
    np.random.seed(0)
    crop = RandomResizedCrop(32, crop_ratio_range=(0.15, 1.0))
    img = np.zeros((32, 32, 3), np.uint8)
    sel, uni = [], []
    for _ in range(400):
        box1, box2 = crop.rand_crop_params(img), crop.rand_crop_params(img)
        ids1 = sparse_patch_ids(256, 0.25, 4)
        cov = covered_fraction(ids1, box1, (16, 16), box2, (16, 16))
        for power, acc in ((3.0, sel), (0.0, uni)):
            t = SelectivePatchSampling(patch_size=2, power=power)
            res = _two_view_results(box1, box2, ids1)
            ids2 = t(res)['patch_ids'][1]
            assert ids2.shape == (4, 64)
            acc.append(np.take_along_axis(cov, ids2, axis=1).mean())
    sel, uni = float(np.mean(sel)), float(np.mean(uni))
    assert uni > 0.1  # the views overlap a lot on average
    assert sel < 0.4 * uni, (sel, uni)


# ------------------------------------------------------ crop, wrapper, packing
def test_crop_records_its_box():
    img = np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    ours = RandomResizedCropWithBox(scale=16, crop_ratio_range=(0.2, 0.5))
    theirs = RandomResizedCrop(scale=16, crop_ratio_range=(0.2, 0.5))
    for seed in range(5):
        np.random.seed(seed)
        res = ours(dict(img=img.copy()))
        np.random.seed(seed)
        ref = theirs(dict(img=img.copy()))
        np.testing.assert_array_equal(res['img'], ref['img'])  # same draws, same image
        top, left, h, w = res['crop_box'].astype(int)
        expected = mmcv.imresize(img[top : top + h, left : left + w], (16, 16))
        np.testing.assert_array_equal(res['img'], expected)
        assert res['flip'] is False
    # A flip before the crop: the box is given in the un-flipped image.
    flip_first = Compose(
        [
            dict(type='RandomFlip', prob=1.0, direction='horizontal'),
            dict(type='RandomResizedCropWithBox', scale=16, crop_ratio_range=(0.2, 0.5)),
        ]
    )
    res = flip_first(dict(img=img.copy()))
    top, left, h, w = res['crop_box'].astype(int)
    expected = mmcv.imflip(mmcv.imresize(img[top : top + h, left : left + w], (16, 16)))
    np.testing.assert_array_equal(res['img'], expected)
    assert res['flip'] is True


def test_pipeline_packs_per_view_ids_for_the_model():
    pipeline = Compose(
        [
            dict(
                type='MultiViewWithKeys',
                num_views=2,
                transforms=[
                    [
                        dict(type='RandomResizedCropWithBox', scale=32),
                        dict(type='RandomFlip', prob=0.5),
                    ]
                ],
            ),
            dict(type='SparsePatchSampling', patch_size=4, ratio=0.25, rounds=4),
            dict(type='SelectivePatchSampling', patch_size=4),
            dict(
                type='PackInputs',
                algorithm_keys=['patch_ids'],
                meta_keys=['sample_idx', 'crop_box', 'flip'],
            ),
        ]
    )
    img = np.random.default_rng(1).integers(0, 255, (48, 48, 3), dtype=np.uint8)
    samples = [pipeline(dict(img=img.copy(), sample_idx=i)) for i in range(3)]
    ds = samples[0]['data_samples']
    assert len(ds.crop_box) == 2 and len(ds.flip) == 2
    assert [ids.shape for ids in ds.patch_ids] == [(4, 16), (4, 16)]
    batch = default_collate(samples)
    assert [tuple(x.shape) for x in batch['inputs']] == [(3, 3, 32, 32)] * 2
    from csml_mm.models.algorithms.aps import APS

    ids = APS.patch_ids(batch['data_samples'], 2, torch.device('cpu'))
    assert ids[0].shape == (3, 4, 16) and ids[0].dtype == torch.long
    assert torch.equal(ids[1][2], torch.from_numpy(samples[2]['data_samples'].patch_ids[1]))
    assert repr(MultiViewWithKeys(transforms=[[]], num_views=2)).endswith(
        "keys=('crop_box', 'flip', 'flip_direction')"
    )
