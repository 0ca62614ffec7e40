"""MultiPositiveContrastiveHead against plain-loop references written here."""

import math

import pytest
import torch
import torch.nn.functional as F

from csml_mm.models.heads import MultiPositiveContrastiveHead


def ref_per_positive(sim, w, valid, t):
    total = 0.0
    n, m = sim.shape
    for i in range(n):
        wsum = sum(float(w[i, j]) for j in range(m))
        negs = [j for j in range(m) if valid[i, j] and w[i, j] == 0]
        row = 0.0
        for p in range(m):
            if w[i, p] <= 0:
                continue
            num = math.exp(float(sim[i, p]) / t)
            den = num + sum(math.exp(float(sim[i, j]) / t) for j in negs)
            row += float(w[i, p]) / wsum * -math.log(num / den)
        total += row
    return total / n


def ref_supcon(sim, w, valid, t):
    total = 0.0
    n, m = sim.shape
    for i in range(n):
        wsum = sum(float(w[i, j]) for j in range(m))
        lse = math.log(sum(math.exp(float(sim[i, j]) / t) for j in range(m) if valid[i, j]))
        total += -sum(
            float(w[i, p]) / wsum * (float(sim[i, p]) / t - lse) for p in range(m) if w[i, p] > 0
        )
    return total / n


def _random_problem(n=6, m=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    sim = torch.rand(n, m, generator=g) * 2 - 1
    w = torch.rand(n, m, generator=g) * (torch.rand(n, m, generator=g) < 0.35)
    w[:, 0] += 0.1  # every row has a positive
    valid = torch.rand(n, m, generator=g) < 0.8
    valid |= w > 0
    return sim, w, valid


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('t', [0.07, 0.2, 1.0])
def test_modes_match_plain_loop(seed, t):
    sim, w, valid = _random_problem(seed=seed)
    pp = MultiPositiveContrastiveHead(t, 'per_positive').loss(sim, w, valid)
    sc = MultiPositiveContrastiveHead(t, 'supcon').loss(sim, w, valid)
    assert pp.item() == pytest.approx(ref_per_positive(sim, w, valid, t), rel=1e-5)
    assert sc.item() == pytest.approx(ref_supcon(sim, w, valid, t), rel=1e-5)


def test_one_positive_equals_infonce():
    g = torch.Generator().manual_seed(3)
    sim = torch.rand(5, 7, generator=g) * 2 - 1
    w = torch.zeros(5, 7)
    w[:, 0] = 1.0
    infonce = F.cross_entropy(sim / 0.2, torch.zeros(5, dtype=torch.long))
    for mode in ('per_positive', 'supcon'):
        loss = MultiPositiveContrastiveHead(0.2, mode).loss(sim, w)
        assert loss.item() == pytest.approx(infonce.item(), rel=1e-6)


def test_weights_are_normalised_and_invalid_columns_ignored():
    sim, w, valid = _random_problem(seed=4)
    head = MultiPositiveContrastiveHead(0.1, 'supcon')
    assert head.loss(sim, w * 7.5, valid).item() == pytest.approx(
        head.loss(sim, w, valid).item(), rel=1e-6
    )
    # Changing an invalid column's similarity changes nothing.
    col = (~valid).nonzero()[0]
    sim2 = sim.clone()
    sim2[col[0], col[1]] = 50.0
    assert head.loss(sim2, w, valid).item() == pytest.approx(head.loss(sim, w, valid).item())


def test_stable_with_large_logits_and_autocast():
    sim = torch.tensor([[1.0, 0.999, -1.0, 0.98]], requires_grad=True)
    w = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    head = MultiPositiveContrastiveHead(0.001, 'per_positive')
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = head.loss(sim.bfloat16(), w)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(sim.grad).all()


def test_row_without_negatives_has_finite_grad():
    sim = torch.tensor([[0.5, 0.2], [0.1, 0.3]], requires_grad=True)
    w = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    loss = MultiPositiveContrastiveHead(0.2, 'per_positive').loss(sim, w)
    loss.backward()
    assert torch.isfinite(sim.grad).all()
    # Row 0 has no negative: its loss is 0 (each positive against nothing).
    rows = MultiPositiveContrastiveHead(0.2, 'per_positive').loss_per_row(sim, w)
    assert rows[0].item() == pytest.approx(0.0, abs=1e-7)


def test_errors():
    head = MultiPositiveContrastiveHead(0.2)
    with pytest.raises(ValueError, match='no positive'):
        head.loss(torch.zeros(2, 3), torch.tensor([[1.0, 0, 0], [0, 0, 0]]))
    with pytest.raises(ValueError, match='invalid'):
        head.loss(torch.zeros(1, 2), torch.tensor([[1.0, 0]]), torch.tensor([[False, True]]))
    with pytest.raises(ValueError, match='mode'):
        MultiPositiveContrastiveHead(0.2, 'bogus')


def _shared_negatives_problem(n=5, p=3, k=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    pos = torch.rand(n, p, generator=g) * 2 - 1
    neg = torch.rand(n, k, generator=g) * 2 - 1
    w = torch.rand(n, p, generator=g) * (torch.rand(n, p, generator=g) < 0.6)
    w[:, 0] += 0.2  # every row has a positive; some others have weight 0
    return pos, w, neg


def ref_shared_negatives(pos, w, neg, t, mode):
    """Plain loops: zero-weight positive columns are neither positives nor negatives."""
    total = 0.0
    n, p = pos.shape
    for i in range(n):
        wsum = sum(float(w[i, j]) for j in range(p))
        neg_exp = sum(math.exp(float(x) / t) for x in neg[i])
        pos_exp = sum(math.exp(float(pos[i, j]) / t) for j in range(p) if w[i, j] > 0)
        row = 0.0
        for j in range(p):
            if w[i, j] <= 0:
                continue
            num = math.exp(float(pos[i, j]) / t)
            den = num + neg_exp if mode == 'per_positive' else pos_exp + neg_exp
            row += float(w[i, j]) / wsum * -math.log(num / den)
        total += row
    return total / n


@pytest.mark.parametrize('mode', ['per_positive', 'supcon'])
@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('t', [0.07, 0.2, 1.0])
def test_shared_negatives_matches_plain_loop(mode, seed, t):
    pos, w, neg = _shared_negatives_problem(seed=seed)
    assert (w == 0).any()  # the zero-weight positive path is exercised
    loss = MultiPositiveContrastiveHead(t, mode).loss_shared_negatives(pos, w, neg)
    assert loss.item() == pytest.approx(ref_shared_negatives(pos, w, neg, t, mode), rel=1e-5)


@pytest.mark.parametrize('mode', ['per_positive', 'supcon'])
def test_shared_negatives_equals_masked_full_matrix_with_gradients(mode):
    """Same value and same gradients as loss() on [pos | neg] with zero-weight
    positive columns marked invalid (how CsMl built its loss before)."""
    pos, w, neg = _shared_negatives_problem(n=7, p=2, k=64, seed=5)
    head = MultiPositiveContrastiveHead(0.2, mode)
    pos_a, neg_a = pos.clone().requires_grad_(), neg.clone().requires_grad_()
    pos_b, neg_b = pos.clone().requires_grad_(), neg.clone().requires_grad_()
    fast = head.loss_shared_negatives(pos_a, w, neg_a)
    sim = torch.cat([pos_b, neg_b], dim=1)
    weight = torch.cat([w, torch.zeros_like(neg)], dim=1)
    valid = torch.ones_like(sim, dtype=torch.bool)
    valid[:, : pos.shape[1]] = w > 0
    full = head.loss(sim, weight, valid)
    fast.backward()
    full.backward()
    assert fast.item() == pytest.approx(full.item(), rel=1e-6)
    torch.testing.assert_close(pos_a.grad, pos_b.grad, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(neg_a.grad, neg_b.grad, rtol=1e-5, atol=1e-7)


def test_shared_negatives_without_negatives_and_errors():
    head = MultiPositiveContrastiveHead(0.2, 'per_positive')
    pos = torch.tensor([[0.5, 0.1]], requires_grad=True)
    rows = head.loss_per_row_shared_negatives(pos, torch.tensor([[1.0, 1.0]]), torch.zeros(1, 0))
    assert rows.item() == pytest.approx(0.0, abs=1e-7)  # nothing to contrast with
    rows.sum().backward()
    assert torch.isfinite(pos.grad).all()
    with pytest.raises(ValueError, match='no positive'):
        head.loss_shared_negatives(
            torch.zeros(2, 2), torch.tensor([[1.0, 0], [0, 0]]), torch.zeros(2, 4)
        )
    with pytest.raises(ValueError, match=r'neg_sim must be \[N, K\]'):
        head.loss_shared_negatives(torch.zeros(2, 2), torch.ones(2, 2), torch.zeros(3, 4))
    with pytest.raises(ValueError, match='non-negative'):
        head.loss_shared_negatives(
            torch.zeros(1, 2), torch.tensor([[1.0, -1.0]]), torch.zeros(1, 4)
        )


@pytest.mark.parametrize('mode', ['supcon', 'per_positive'])
def test_loss_same_label_equals_the_masked_loss_and_the_plain_loop(mode):
    """loss_same_label: fp32 similarities of the local rows against the gathered batch, the
    anchor's own column excluded, the other columns with its label positive."""
    g = torch.Generator().manual_seed(5)
    feats_all = F.normalize(torch.randn(10, 6, generator=g), dim=1)
    labels_all = torch.tensor([0, 1, 0, 2, 1, 2, 0, 3, 3, 1])
    offset, b = 4, 5  # local rows 4..8
    feats = feats_all[offset : offset + b].clone().requires_grad_(True)
    head = MultiPositiveContrastiveHead(0.1, mode)
    got = head.loss_same_label(
        feats, feats_all, offset, labels_all[offset : offset + b], labels_all
    )
    sim = feats @ feats_all.T
    valid = torch.ones(b, 10, dtype=torch.bool)
    valid[torch.arange(b), torch.arange(b) + offset] = False
    pos = (labels_all[offset : offset + b, None] == labels_all[None]) & valid
    expect = head.loss(sim, pos.float(), valid)
    assert torch.equal(got, expect)
    ref = (ref_supcon if mode == 'supcon' else ref_per_positive)(
        sim.detach().double(), pos.double(), valid, 0.1
    )
    assert got.item() == pytest.approx(ref, rel=1e-5)
    got.backward()
    assert torch.isfinite(feats.grad).all()
    with torch.autocast('cpu', dtype=torch.bfloat16):  # fp32 similarities also under AMP
        amp = head.loss_same_label(
            feats, feats_all, offset, labels_all[offset : offset + b], labels_all
        )
    assert amp.dtype == torch.float32 and torch.equal(amp, got)
