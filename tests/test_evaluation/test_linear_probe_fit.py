"""The quick linear probe: same optimum as scikit-learn's logistic regression."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from csml_mm.evaluation import fit_linear_probe, linear_probe_accuracy


def _blobs(n=300, d=5, c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(c, d, generator=g) * 2
    y = torch.arange(n) % c
    x = centres[y] + torch.randn(n, d, generator=g) * 1.5 + 3.0
    return x, y


def test_probe_matches_sklearn_logistic_regression():
    x, y = _blobs()
    lam = 1e-2
    probe = fit_linear_probe(x, y, 3, weight_decay=lam)
    xs = ((x.double() - probe['mean']) / probe['std']).numpy()
    ref = LogisticRegression(C=1.0 / (lam * len(x)), tol=1e-10, max_iter=10000).fit(xs, y.numpy())
    # softmax weights are defined up to a shift per feature; compare the probabilities
    ours = torch.softmax(torch.from_numpy(xs) @ probe['weight'].T + probe['bias'], 1).numpy()
    np.testing.assert_allclose(ours, ref.predict_proba(xs), atol=2e-4)


def test_accuracy_on_separable_and_on_label_noise():
    x, y = _blobs(seed=1)
    acc = linear_probe_accuracy(x[:200], y[:200], x[200:], y[200:], 3)
    pred_ref = (
        LogisticRegression(C=1.0 / (1e-4 * 200), max_iter=10000)
        .fit(((x[:200] - x[:200].mean(0)) / x[:200].std(0)).numpy(), y[:200].numpy())
        .predict(((x[200:] - x[:200].mean(0)) / x[:200].std(0)).numpy())
    )
    assert acc == pytest.approx(float((pred_ref == y[200:].numpy()).mean() * 100), abs=1.01)
    shuffled = y[torch.randperm(300, generator=torch.Generator().manual_seed(0))]
    assert linear_probe_accuracy(x[:200], shuffled[:200], x[200:], shuffled[200:], 3) < 60


def test_bad_features_are_named():
    x, y = _blobs()
    x[3, 1] = float('nan')
    with pytest.raises(ValueError, match='NaN'):
        fit_linear_probe(x, y, 3)
    with pytest.raises(ValueError, match='must be'):
        fit_linear_probe(x[:10], y[:5], 3)
