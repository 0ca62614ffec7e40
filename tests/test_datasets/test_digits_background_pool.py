# Copyright (c) csml_mm contributors. All rights reserved.
"""Tests of the opt-in ``background_pool`` of ``DigitsComposite``."""

import numpy as np
import pytest

from csml_mm.datasets import DigitsComposite
from csml_mm.datasets import digits as digits_mod

#: Width of the image border that a centre-blob digit never reaches (see
#: ``blob_digits``).
BORDER = 4


def _blob(labels: np.ndarray, value: int) -> np.ndarray:
    """Digits that are a 2x2 blob of ink ``value`` at rows/cols 3..4."""
    ink = np.zeros((len(labels), 8, 8), dtype=np.uint8)
    ink[:, 3:5, 3:5] = value
    return ink


def _use_digits(monkeypatch, ink: np.ndarray, labels: np.ndarray) -> None:
    monkeypatch.setattr(digits_mod, '_CACHE', {})
    monkeypatch.setattr(digits_mod, 'load_source_digits', lambda: (ink, labels))


@pytest.fixture
def blob_digits(monkeypatch):
    """Replace the source digits by a 2x2 blob in the middle of the 8x8 grid.

    Labels are the real ones. Upsampled bilinearly to a side s in 14..29 px,
    the blob's alpha is nonzero only where the sample point lies beyond 2 on
    the 8 px grid, i.e. from pixel 4 of the digit box on (and symmetrically at
    the other end). The digit box lies inside the image, so a frame of
    ``BORDER`` px is pure background in every rendering.
    """
    _, labels = digits_mod.load_source_digits()
    _use_digits(monkeypatch, _blob(labels, 16), labels)
    return labels


def _border(imgs: np.ndarray) -> np.ndarray:
    """The ``BORDER`` px frame of every image, one flattened row per image."""
    mask = np.ones(imgs.shape[1:3], dtype=bool)
    mask[BORDER:-BORDER, BORDER:-BORDER] = False
    return imgs[:, mask].reshape(len(imgs), -1)


def _distinct(rows: np.ndarray):
    uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
    return len(uniq), inverse.ravel()


@pytest.mark.parametrize('pool', [None, 4])
def test_blob_digit_leaves_the_border_free(blob_digits, monkeypatch, pool):
    """Precondition of the counting tests: the frame is the background.

    A strong and a faint blob (same footprint, same colour choice since the
    colour depends on the alpha-weighted mean only) give the same frame but
    a different inside.
    """
    strong, _ = digits_mod.render_composite_digits(1, 0, pool)
    _use_digits(monkeypatch, _blob(blob_digits, 1), blob_digits)
    faint, _ = digits_mod.render_composite_digits(1, 0, pool)
    np.testing.assert_array_equal(_border(strong), _border(faint))
    assert (strong != faint).any(axis=(1, 2, 3)).all()


@pytest.mark.parametrize('pool', [1, 5, 16])
def test_pool_size_is_the_number_of_distinct_backgrounds(blob_digits, pool):
    labels = blob_digits
    imgs, out_labels = digits_mod.render_composite_digits(2, 0, background_pool=pool)
    n = 2 * len(labels)
    assert imgs.shape == (n, 32, 32, 3)
    np.testing.assert_array_equal(out_labels, np.repeat(labels, 2))
    count, inverse = _distinct(_border(imgs))
    assert count == pool
    sizes = np.bincount(inverse, minlength=pool)
    # every patch is shared by many renderings (uniform choice: n / pool on
    # average), so a background does not identify an instance ...
    assert sizes.min() > 0.5 * n / pool
    # ... nor a class: each patch appears under every digit class
    for b in range(pool):
        assert set(out_labels[inverse == b]) == set(range(10))


def test_without_pool_every_background_is_new(blob_digits):
    imgs, _ = digits_mod.render_composite_digits(2, 0)
    count, _ = _distinct(_border(imgs))
    assert count > 0.99 * len(imgs)


def _digit_centres(monkeypatch, labels, pool, seed=0) -> np.ndarray:
    """Centre of the pixels a blob changes (strong vs faint ink), per image.

    It depends on the digit's position and side only (up to the pixels where
    the blend rounds to the same value), not on the background.
    """
    out = []
    for value in (16, 1):
        _use_digits(monkeypatch, _blob(labels, value), labels)
        out.append(digits_mod.render_composite_digits(1, seed, pool)[0].astype(np.int64))
    changed = (out[0] != out[1]).any(-1)
    yy, xx = np.mgrid[:32, :32]
    area = changed.sum((1, 2))
    return np.stack([(changed * yy).sum((1, 2)) / area, (changed * xx).sum((1, 2)) / area], 1)


def test_pool_keeps_everything_but_the_background(blob_digits, monkeypatch):
    """Same seed with and without a pool: only the background differs."""
    plain, _ = digits_mod.render_composite_digits(1, 0)
    pooled, _ = digits_mod.render_composite_digits(1, 0, background_pool=3)
    assert (_border(plain) != _border(pooled)).any(axis=1).mean() > 0.9
    c_none = _digit_centres(monkeypatch, blob_digits, None)
    c_pool = _digit_centres(monkeypatch, blob_digits, 3)
    # digit placement and size are drawn identically: the blob sits at the
    # same place (the centre of a 2..9 px blob, so within a pixel)
    assert np.abs(c_none - c_pool).max() <= 1.0
    # the comparison has power: another seed moves the digits
    c_moved = _digit_centres(monkeypatch, blob_digits, 3, seed=1)
    assert (np.abs(c_moved - c_pool).max(1) > 1.0).mean() > 0.5


def test_pool_determinism_and_seeds(monkeypatch):
    kwargs = dict(split='val', samples_per_digit=1, background_pool=8)
    first = DigitsComposite(**kwargs)
    monkeypatch.setattr(digits_mod, '_CACHE', {})
    second = DigitsComposite(**kwargs)
    imgs = np.stack([first.get_data_info(i)['img'] for i in range(len(first))])
    np.testing.assert_array_equal(
        imgs, np.stack([second.get_data_info(i)['img'] for i in range(len(second))])
    )
    # labels and sources are those of the default dataset
    default = DigitsComposite(split='val', samples_per_digit=1)
    np.testing.assert_array_equal(first.get_gt_labels(), default.get_gt_labels())
    assert [first.get_data_info(i)['source_index'] for i in range(5)] == [
        default.get_data_info(i)['source_index'] for i in range(5)
    ]
    default_imgs = np.stack([default.get_data_info(i)['img'] for i in range(len(default))])
    assert (imgs != default_imgs).any(axis=(1, 2, 3)).mean() > 0.9
    # another seed gives another pool and other renderings
    other = DigitsComposite(split='val', samples_per_digit=1, seed=1, background_pool=8)
    other_imgs = np.stack([other.get_data_info(i)['img'] for i in range(len(other))])
    assert (other_imgs != imgs).any(axis=(1, 2, 3)).mean() > 0.99
    assert 'pool of 8 shared patches' in repr(first)


def test_pool_and_default_are_cached_apart():
    default = digits_mod.render_composite_digits(1, 0)
    pooled = digits_mod.render_composite_digits(1, 0, background_pool=4)
    assert default is digits_mod.render_composite_digits(1, 0, None)
    assert pooled is digits_mod.render_composite_digits(1, 0, 4)
    assert not np.array_equal(default[0], pooled[0])


@pytest.mark.parametrize('bad', [0, -3, 2.5, True, '16'])
def test_bad_pool_raises(bad):
    with pytest.raises(ValueError, match='background_pool'):
        DigitsComposite(split='val', samples_per_digit=1, background_pool=bad)
    with pytest.raises(ValueError, match='background_pool'):
        digits_mod.render_composite_digits(1, 0, background_pool=bad)
