"""Neighbour search against brute force; CutMix area bookkeeping."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from csml_mm.models.utils import cutmix_pair, knn_search, sample_cutmix_box


def brute_force(feats, k):
    n = feats.shape[0]
    out = []
    for i in range(n):
        sims = [(float(feats[i] @ feats[j]), j) for j in range(n) if j != i]
        sims.sort(key=lambda s: -s[0])
        out.append([j for _, j in sims[:k]])
    return out


@pytest.mark.parametrize('chunk', [1, 7, 1000])
def test_knn_search_matches_brute_force(chunk):
    g = torch.Generator().manual_seed(0)
    feats = F.normalize(torch.randn(53, 8, generator=g), dim=1)
    got = knn_search(feats, 5, chunk_size=chunk)
    assert got.tolist() == brute_force(feats, 5)


def test_duplicates_are_neighbours_but_self_is_not():
    g = torch.Generator().manual_seed(1)
    feats = F.normalize(torch.randn(20, 4, generator=g), dim=1)
    feats[7] = feats[3]  # an exact duplicate image
    got = knn_search(feats, 3, chunk_size=6)
    assert 7 in got[3].tolist() and 3 in got[7].tolist()
    assert all(i not in got[i].tolist() for i in range(20))
    assert got[3, 0].item() == 7 and got[7, 0].item() == 3


def test_knn_search_errors():
    with pytest.raises(ValueError, match='k=5 neighbours need at least'):
        knn_search(torch.randn(5, 3), 5)
    bad = torch.randn(6, 3)
    bad[2, 1] = float('nan')
    with pytest.raises(ValueError, match='NaN'):
        knn_search(bad, 2)


def test_cutmix_area_bookkeeping():
    rng = np.random.default_rng(0)
    a = torch.zeros(3, 3, 17, 23)
    b = torch.ones(3, 3, 17, 23)
    for _ in range(200):
        mixed, lam = cutmix_pair(a, b, 2.0, rng)
        # the fraction of pixels still from the anchor equals lam, for every sample,
        # i.e. one box for the whole batch
        frac_anchor = (mixed[:, 0] == 0).float().mean(dim=(1, 2))
        assert torch.allclose(frac_anchor, torch.full((3,), lam), atol=1e-6)
        assert torch.equal(mixed[:, 0], mixed[:, 1]) and torch.equal(mixed[0], mixed[1])
        assert 0.0 <= lam <= 1.0
    assert torch.equal(a, torch.zeros_like(a))  # inputs untouched


def test_cutmix_box_clipping_and_mean_area():
    rng = np.random.default_rng(1)
    lams = []
    for _ in range(4000):
        lam0 = float(rng.beta(2, 2))
        top, left, bottom, right = sample_cutmix_box(32, 32, lam0, rng)
        assert 0 <= top <= bottom <= 32 and 0 <= left <= right <= 32
        assert (bottom - top) <= int(32 * np.sqrt(1 - lam0)) + 1
        lams.append(1 - (bottom - top) * (right - left) / 1024)
    # clipping only removes area: the recomputed lam is above Beta(2,2)'s mean 0.5
    assert np.mean(lams) > 0.5
