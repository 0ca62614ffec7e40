# Copyright (c) csml_mm contributors. All rights reserved.
"""A short linear probe: multinomial logistic regression on frozen features.

Features are standardised with the train split's mean and standard deviation,
then the weights ``W`` and bias ``b`` minimise

.. math::

    \\frac{1}{N} \\sum_i -\\log \\operatorname{softmax}(W f_i + b)_{y_i}
        + \\frac{\\lambda}{2} \\lVert W \\rVert^2

with full-batch L-BFGS (strong-Wolfe line search) from zero. The objective is
convex, so the result does not depend on a learning rate, a schedule or a seed:
one protocol fits every encoder. It is the same model as scikit-learn's
``LogisticRegression(C=1 / (lambda * N))``. This is the quick probe of the
quality table; the mmpretrain linear-probe configs (``configs/benchmarks``) are
the full, augmented protocol.
"""

from typing import Dict

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['fit_linear_probe', 'linear_probe_accuracy']


def fit_linear_probe(
    feats: Tensor, labels: Tensor, num_classes: int, weight_decay: float = 1e-4, max_iter: int = 300
) -> Dict[str, Tensor]:
    """Fit the probe; returns ``mean``, ``std``, ``weight`` (C, D) and ``bias`` (C,)."""
    if feats.dim() != 2 or len(feats) != len(labels) or len(feats) == 0:
        raise ValueError(
            f'fit_linear_probe: features {tuple(feats.shape)} and labels '
            f'{tuple(labels.shape)} must be (N, D) and (N,) with N > 0.'
        )
    if not torch.isfinite(feats).all():
        raise ValueError(
            'fit_linear_probe: the features hold NaN or Inf; the encoder '
            'diverged (check the pretraining loss).'
        )
    x = feats.double()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    x = (x - mean) / std
    y = labels.long()
    w = torch.zeros(num_classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [w, b],
        lr=1,
        max_iter=max_iter,
        history_size=20,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        line_search_fn='strong_wolfe',
    )

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x @ w.T + b, y) + 0.5 * weight_decay * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return dict(mean=mean, std=std, weight=w.detach(), bias=b.detach())


def linear_probe_accuracy(
    train_feats: Tensor,
    train_labels: Tensor,
    test_feats: Tensor,
    test_labels: Tensor,
    num_classes: int,
    weight_decay: float = 1e-4,
) -> float:
    """Top-1 accuracy (percent) on the test split of a probe fitted on the train split."""
    probe = fit_linear_probe(train_feats, train_labels, num_classes, weight_decay)
    x = (test_feats.double() - probe['mean']) / probe['std']
    pred = (x @ probe['weight'].T + probe['bias']).argmax(1)
    return float((pred == test_labels.long()).double().mean() * 100)
