# Copyright (c) csml_mm contributors. All rights reserved.
"""Split batch norm: the single-process stand-in for MoCo's shuffle-BN."""

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import get_world_size
from mmpretrain.registry import MODELS


class _SplitBatchNorm:
    r"""Training statistics from ``num_splits`` sub-batches (mixed into a ``_BatchNorm``).

    In training mode the batch of ``N`` is cut into ``S = num_splits`` consecutive
    groups of ``N / S`` samples and every group ``g`` is normalised with its own
    statistics::

        y_i = gamma * (x_i - mu_g) / sqrt(var_g + eps) + beta,   i in group g

    and the running statistics move towards the mean over groups of the per-group
    updates (``running <- (1 - m) running + m mean_g(stat_g)``, ``var_g`` unbiased).
    In eval mode it is the plain batch norm. Parameters and buffers are those of
    the plain layer (same names and shapes), so checkpoints move freely between the two.

    Why: MoCo's shuffle-BN stops the key encoder from reading the batch statistics
    that its positive pair shares with the query. With one process the shuffle stays
    inside one BN batch and does nothing; normalising sub-batches of the shuffled keys
    restores the effect (He et al. 2020, the CIFAR demo of the MoCo authors).

    Inside :func:`grouped_batch_norm` ``(module, G)`` the batch is first cut into
    ``G`` equal consecutive chunks (several views stacked into one forward pass) and
    each chunk is normalised as if it had been its own forward pass: ``G * S``
    groups at world size 1, ``G`` under DDP.

    Args:
        num_features: Channels.
        num_splits: Sub-batches per batch (1 is plain BN).
        single_process_only: Split only when the world size is 1 (under DDP the
            cross-rank shuffle-BN already does the job).
    """

    _abbr_ = 'bn'
    view_groups = 1  # set by grouped_batch_norm; a class default so converted BNs have it

    def __init__(
        self, num_features: int, num_splits: int = 8, single_process_only: bool = True, **kwargs
    ) -> None:
        super().__init__(num_features, **kwargs)
        if num_splits < 1:
            raise ValueError(f'SplitBN: num_splits must be >= 1, got {num_splits}.')
        self.num_splits = int(num_splits)
        self.single_process_only = single_process_only

    def splits_now(self) -> int:
        if not self.training:
            return 1
        per_view = 1 if (self.single_process_only and get_world_size() > 1) else self.num_splits
        return per_view * self.view_groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.splits_now()
        if s == 1:
            return super().forward(x)
        self._check_input_dim(x)
        n, c, rest = x.shape[0], x.shape[1], tuple(x.shape[2:])
        if n % s != 0:
            raise ValueError(
                f'SplitBN: the batch of {n} does not divide into {s} sub-batches '
                f'({s // self.view_groups} per view x {self.view_groups} stacked views). Use '
                f'a batch size that is a multiple of {s // self.view_groups}, or set '
                'num_splits (the norm_cfg) to a divisor of it.'
            )
        # (N, C, *) -> (N/S, S*C, *): sample j of group g lands in channels
        # [g*C, (g+1)*C), so one batch_norm call gives every group its own statistics.
        xs = x.view(s, n // s, c, *rest).transpose(0, 1).reshape(n // s, s * c, *rest)
        running_mean = self.running_mean.repeat(s) if self.track_running_stats else None
        running_var = self.running_var.repeat(s) if self.track_running_stats else None
        weight = self.weight.repeat(s) if self.affine else None
        bias = self.bias.repeat(s) if self.affine else None
        momentum = self.momentum if self.momentum is not None else 0.0
        if self.track_running_stats and self.momentum is None:
            self.num_batches_tracked.add_(1)
            momentum = 1.0 / float(self.num_batches_tracked)
        elif self.track_running_stats:
            self.num_batches_tracked.add_(1)
        y = F.batch_norm(xs, running_mean, running_var, weight, bias, True, momentum, self.eps)
        if self.track_running_stats:
            with torch.no_grad():
                self.running_mean.copy_(running_mean.view(s, c).mean(0))
                self.running_var.copy_(running_var.view(s, c).mean(0))
        return y.view(n // s, s, c, *rest).transpose(0, 1).reshape(n, c, *rest)


@MODELS.register_module('SplitBN')
class SplitBatchNorm2d(_SplitBatchNorm, nn.BatchNorm2d):
    """``BatchNorm2d`` with split training statistics (:class:`_SplitBatchNorm`).

    The backbone's norm layer for single-process MoCo-family runs
    (``norm_cfg=dict(type='SplitBN', num_splits=8)``).
    """


@MODELS.register_module('SplitBN1d')
class SplitBatchNorm1d(_SplitBatchNorm, nn.BatchNorm1d):
    """``BatchNorm1d`` with split training statistics (:class:`_SplitBatchNorm`).

    For a BN inside a projection MLP (``norm_cfg=dict(type='SplitBN1d', num_splits=8)``):
    the key encoder's copy of a plain BN1d normalises its whole key batch, the images
    of the query's batch, as a plain BN does in the backbone. Measured on Fashion-MNIST
    (configs/csml/README.md) it did not change MoCo v2's result there.
    """


def convert_split_bn(module: nn.Module, num_splits: int, single_process_only: bool = True) -> int:
    """Turn every ``nn.BatchNorm2d`` below ``module`` into :class:`SplitBatchNorm2d` in place.

    Parameters, buffers and their names are kept (only the class changes), so
    optimiser state and checkpoints are unaffected. Returns the number converted.
    """
    count = 0
    for m in module.modules():
        if type(m) is nn.BatchNorm2d:
            m.__class__ = SplitBatchNorm2d
            m.num_splits = int(num_splits)
            m.single_process_only = single_process_only
            count += 1
        elif isinstance(m, SplitBatchNorm2d):
            m.num_splits = int(num_splits)
            m.single_process_only = single_process_only
    return count


def batch_norms_all_split(module: nn.Module) -> bool:
    """True when every batch-norm layer below ``module`` is a split one (2-d or 1-d).

    Then stacking several views into one forward pass under :func:`grouped_batch_norm`
    normalises each view exactly as its own pass would; a plain (2-d or 1-d) or
    synchronised batch norm would mix the views' statistics.
    """
    return all(
        isinstance(m, _SplitBatchNorm)
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    )


@contextmanager
def grouped_batch_norm(module: nn.Module, groups: int) -> Iterator[None]:
    """Make every split batch norm below ``module`` treat its batch as ``groups`` views.

    For a forward pass of ``torch.cat([x_1, ..., x_G])`` with equal-sized ``x_g``:
    each ``x_g`` gets the training statistics it would get in a pass of its own
    (further split into ``num_splits`` sub-batches where the layer splits), so the
    output equals the ``G`` separate passes up to floating-point rounding, at the
    cost of one larger pass. The one difference: the running statistics take one
    update with the mean of the ``G`` views' statistics instead of ``G`` successive
    updates.
    """
    if groups < 1:
        raise ValueError(f'grouped_batch_norm: groups must be >= 1, got {groups}.')
    layers = [m for m in module.modules() if isinstance(m, _SplitBatchNorm)]
    for m in layers:
        m.view_groups = int(groups)
    try:
        yield
    finally:
        for m in layers:
            m.view_groups = 1
