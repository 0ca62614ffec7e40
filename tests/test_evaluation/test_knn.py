# Copyright (c) csml_mm contributors. All rights reserved.
"""Tests of the weighted kNN classifier (csml_mm.evaluation.knn)."""

import math

import pytest
import torch
import torch.nn.functional as F

from csml_mm.evaluation.knn import knn_accuracy, knn_classify


def _circle(degrees):
    rad = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
    return torch.stack([rad.cos(), rad.sin()], dim=1)


def _cosd(deg):
    return math.cos(math.radians(deg))


# Six training points on the unit circle, two per class.
TRAIN_DEG = [0, 60, 120, 180, 240, 300]
TRAIN_LABELS = torch.tensor([0, 0, 1, 1, 2, 2])
# Query at 10 deg: angular distances 10 (0 deg, c0), 50 (60 deg, c0),
# 70 (300 deg, c2), 110, 130, 170.
# Query at 200 deg: 20 (180 deg, c1), 40 (240 deg, c2), 80 (120 deg, c1),
# 100, 140, 160.
QUERY_DEG = [10, 200]
QUERY_LABELS = torch.tensor([0, 2])


def test_hand_computed_scores_k3():
    T = 0.5
    scores = knn_classify(
        _circle(TRAIN_DEG), TRAIN_LABELS, _circle(QUERY_DEG), num_classes=3, k=3, temperature=T
    )
    e = math.exp
    expected = torch.tensor(
        [
            # query at 10 deg: neighbours at 0, 60 (class 0) and 300 (class 2)
            [e(_cosd(10) / T) + e(_cosd(50) / T), 0.0, e(_cosd(70) / T)],
            # query at 200 deg: 180, 120 (class 1) and 240 (class 2)
            [0.0, e(_cosd(20) / T) + e(_cosd(80) / T), e(_cosd(40) / T)],
        ],
        dtype=torch.float64,
    )
    assert scores.shape == (2, 3)
    torch.testing.assert_close(scores, expected, rtol=1e-9, atol=1e-12)

    acc = knn_accuracy(
        _circle(TRAIN_DEG),
        TRAIN_LABELS,
        _circle(QUERY_DEG),
        QUERY_LABELS,
        num_classes=3,
        topk=(3,),
        temperature=T,
    )
    # Query 1 -> class 0 (right); query 2 -> class 1 (wrong, true class 2
    # has votes, so it is within the top min(5, 3) = 3 classes).
    assert acc == {'top1_k3': 50.0, 'top5_k3': 100.0}


def test_hand_computed_k1_and_k6():
    T = 0.5
    acc = knn_accuracy(
        _circle(TRAIN_DEG),
        TRAIN_LABELS,
        _circle(QUERY_DEG),
        QUERY_LABELS,
        num_classes=3,
        topk=(1, 6),
        temperature=T,
    )
    # k=1: nearest of query 2 is 180 deg (class 1) -> wrong; query 1 right.
    assert acc['top1_k1'] == 50.0
    # k=1, query 2: true class 2 got no vote -> not in the top 3 either.
    assert acc['top5_k1'] == 50.0
    # k=6 (all points), query 2: class 1 = e(cos20)+e(cos80) = 7.96,
    # class 2 = e(cos40)+e(cos100) = 5.23 -> wrong; query 1 right.
    e = math.exp
    c1 = e(_cosd(20) / T) + e(_cosd(80) / T)
    c2 = e(_cosd(40) / T) + e(_cosd(100) / T)
    assert c1 > c2
    assert acc['top1_k6'] == 50.0
    assert list(acc) == ['top1_k1', 'top5_k1', 'top1_k6', 'top5_k6']


def _reference_scores(train, train_labels, query, num_classes, k, T):
    """Plain loop over queries: sort similarities, accumulate weights."""
    out = torch.zeros(query.shape[0], num_classes, dtype=torch.float64)
    for q in range(query.shape[0]):
        sims = [float(query[q].double() @ train[i].double()) for i in range(train.shape[0])]
        order = sorted(range(len(sims)), key=lambda i: -sims[i])[:k]
        for i in order:
            out[q, int(train_labels[i])] += math.exp(sims[i] / T)
    return out


def _reference_correct(scores, labels, n):
    """True class has votes and fewer than n other classes score >= it."""
    correct = 0
    for q in range(scores.shape[0]):
        y = int(labels[q])
        s = float(scores[q, y])
        others = sum(1 for c in range(scores.shape[1]) if c != y and float(scores[q, c]) >= s)
        correct += int(s > 0 and others < n)
    return correct


@pytest.mark.parametrize('chunk_size', [1, 7, 1000])
def test_matches_loop_reference(chunk_size):
    g = torch.Generator().manual_seed(0)
    N, M, D, C = 50, 23, 8, 7
    train = F.normalize(torch.randn(N, D, generator=g), dim=1)
    query = F.normalize(torch.randn(M, D, generator=g), dim=1)
    train_labels = torch.randint(0, C, (N,), generator=g)
    query_labels = torch.randint(0, C, (M,), generator=g)
    T = 0.1
    ks = (1, 4, 17, 50)
    acc = knn_accuracy(
        train,
        train_labels,
        query,
        query_labels,
        num_classes=C,
        topk=ks,
        temperature=T,
        chunk_size=chunk_size,
    )
    for k in ks:
        ref = _reference_scores(train, train_labels, query, C, k, T)
        got = knn_classify(
            train, train_labels, query, num_classes=C, k=k, temperature=T, chunk_size=chunk_size
        )
        assert got.shape == (M, C)
        torch.testing.assert_close(got.double(), ref, rtol=1e-5, atol=1e-6)
        assert acc[f'top1_k{k}'] == pytest.approx(
            100.0 * _reference_correct(ref, query_labels, 1) / M
        )
        assert acc[f'top5_k{k}'] == pytest.approx(
            100.0 * _reference_correct(ref, query_labels, 5) / M
        )
    # With k = N every class with a training sample gets votes.
    assert acc['top5_k50'] >= acc['top1_k50']


def test_accuracy_chunking_does_not_change_results():
    g = torch.Generator().manual_seed(1)
    train = F.normalize(torch.randn(40, 5, generator=g), dim=1)
    query = F.normalize(torch.randn(31, 5, generator=g), dim=1)
    tl = torch.randint(0, 4, (40,), generator=g)
    ql = torch.randint(0, 4, (31,), generator=g)
    results = [
        knn_accuracy(train, tl, query, ql, 4, topk=(3, 10), chunk_size=c)
        for c in (1, 2, 7, 31, 4096)
    ]
    assert all(r == results[0] for r in results)


def test_top5_semantics():
    # Ten classes, one training point each at distinct angles.
    train = _circle([0, 10, 20, 30, 40, 50, 60, 70, 80, 90])
    labels = torch.arange(10)
    # Query at 21 deg, k=3 -> neighbours 20 (c2), 30 (c3), 10 (c1).
    query = _circle([21, 21, 21])
    # True class 3 ranks 2nd, class 1 ranks 3rd, class 9 gets no vote.
    qlabels = torch.tensor([3, 1, 9])
    acc = knn_accuracy(train, labels, query, qlabels, num_classes=10, topk=(3,))
    assert acc['top1_k3'] == 0.0
    # 3 and 1 are within the top 5; 9 has no vote: never counted, although
    # a top-5 over ten scores would have to include 2 zero-score classes.
    assert acc['top5_k3'] == pytest.approx(200.0 / 3)

    # Fewer than five classes: top5 uses all of them -> every query whose
    # class got a vote is correct.
    acc = knn_accuracy(
        _circle(TRAIN_DEG),
        TRAIN_LABELS,
        _circle(QUERY_DEG),
        QUERY_LABELS,
        num_classes=3,
        topk=(6,),
        temperature=0.5,
    )
    assert acc['top1_k6'] == 50.0 and acc['top5_k6'] == 100.0


def test_ties_count_against_the_query():
    # Two identical training points with different labels: exact tie.
    train = _circle([0, 0, 180])
    labels = torch.tensor([0, 1, 2])
    query = _circle([0])
    for y in (0, 1):
        acc = knn_accuracy(train, labels, query, torch.tensor([y]), 3, topk=(2,))
        assert acc == {'top1_k2': 0.0, 'top5_k2': 100.0}


def test_topk_reuse_matches_single_k_calls():
    g = torch.Generator().manual_seed(2)
    train = F.normalize(torch.randn(60, 6, generator=g), dim=1)
    query = F.normalize(torch.randn(20, 6, generator=g), dim=1)
    tl = torch.randint(0, 6, (60,), generator=g)
    ql = torch.randint(0, 6, (20,), generator=g)
    together = knn_accuracy(train, tl, query, ql, 6, topk=(2, 9, 30))
    for k in (2, 9, 30):
        alone = knn_accuracy(train, tl, query, ql, 6, topk=(k,))
        assert alone == {f'top1_k{k}': together[f'top1_k{k}'], f'top5_k{k}': together[f'top5_k{k}']}


def test_errors():
    train = _circle(TRAIN_DEG).float()
    query = _circle(QUERY_DEG).float()
    with pytest.raises(ValueError, match=r'k=7.*N=6'):
        knn_classify(train, TRAIN_LABELS, query, 3, k=7)
    # Default topk (10, 20, 100, 200): the first too large k is named.
    with pytest.raises(ValueError, match=r'k=10 is larger.*N=6'):
        knn_accuracy(train, TRAIN_LABELS, query, QUERY_LABELS, 3)
    with pytest.raises(ValueError, match='positive'):
        knn_classify(train, TRAIN_LABELS, query, 3, k=0)

    bad = train.clone()
    bad[2, 1] = float('nan')
    with pytest.raises(ValueError, match='train_feats.*non-finite'):
        knn_classify(bad, TRAIN_LABELS, query, 3, k=2)
    bad_q = query.clone()
    bad_q[0, 0] = float('inf')
    with pytest.raises(ValueError, match='query_feats.*non-finite'):
        knn_accuracy(train, TRAIN_LABELS, bad_q, QUERY_LABELS, 3, topk=(2,))

    with pytest.raises(ValueError, match='train_feats is empty'):
        knn_classify(train[:0], TRAIN_LABELS[:0], query, 3, k=1)
    with pytest.raises(ValueError, match='query_feats is empty'):
        knn_accuracy(train, TRAIN_LABELS, query[:0], QUERY_LABELS[:0], 3, topk=(1,))
    with pytest.raises(ValueError, match='feature dimension'):
        knn_classify(train, TRAIN_LABELS, torch.ones(2, 3), 3, k=1)
    with pytest.raises(ValueError, match='train_labels must have shape'):
        knn_classify(train, TRAIN_LABELS[:5], query, 3, k=1)
    with pytest.raises(ValueError, match='query_labels must have shape'):
        knn_accuracy(train, TRAIN_LABELS, query, QUERY_LABELS[:1], 3, topk=(1,))
    with pytest.raises(ValueError, match=r'\[0, 2\)'):
        knn_classify(train, TRAIN_LABELS, query, 2, k=1)
    with pytest.raises(ValueError, match='temperature'):
        knn_classify(train, TRAIN_LABELS, query, 3, k=1, temperature=0)
    with pytest.raises(ValueError, match='chunk_size'):
        knn_classify(train, TRAIN_LABELS, query, 3, k=1, chunk_size=0)
    with pytest.raises(ValueError, match='positive int'):
        knn_accuracy(train, TRAIN_LABELS, query, QUERY_LABELS, 3, topk=(2.5,))
