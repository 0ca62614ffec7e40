r"""APS: Asymmetric Patch Sampling for contrastive learning (Shen et al., arXiv 2306.02854)."""

from collections import OrderedDict
from typing import Dict, List, Optional, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_gather, get_rank
from mmengine.optim import OptimWrapper
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..utils.ema import HostStepEMA

_FIX_IDS = (
    'Build the views with MultiViewWithKeys + SparsePatchSampling + '
    "SelectivePatchSampling and pack them with PackInputs(algorithm_keys=['patch_ids']) "
    '(configs/_base_/datasets/*aps*.py).'
)


def _require_patch_ids(data_samples: List[DataSample]) -> None:
    """Raise a ``KeyError`` with the fix unless the samples carry ``patch_ids``.

    Args:
        data_samples (List[DataSample]): The batch's samples (the first one is looked at).

    Raises:
        KeyError: There are no samples, or they carry no ``patch_ids``.
    """
    if not data_samples or 'patch_ids' not in data_samples[0]:
        raise KeyError(f'APS: the data samples carry no patch_ids. {_FIX_IDS}')


@MODELS.register_module()
class APS(BaseSelfSupervisor):
    r"""Asymmetric Patch Sampling (APS).

    Each sample comes with two views and, per view, ``rounds`` sets of patch
    ids (:class:`SparsePatchSampling` for view 1, :class:`SelectivePatchSampling`
    for view 2). For round ``j``, with ``f`` the token-subset ViT
    (:class:`TokenSubsetViT`, class-token output), ``g`` the projector (neck),
    ``q`` the predictor and :math:`n(x) = x / \|x\|`:

    .. math::
        z_v = g(f(x_v, S_{v,j})),\quad p_v = q(z_v),\qquad
        L_j = \mathrm{ctr}(p_1, \mathrm{sg}(z_2)) + \mathrm{ctr}(p_2, \mathrm{sg}(z_1)),

    .. math::
        \mathrm{ctr}(p, z)_i = -\log \frac{\exp(n(p_i)^\top n(z_i)/t)}
        {\sum_{k} \exp(n(p_i)^\top n(z_k)/t)},

    where ``k`` runs over the global batch (targets all-gathered without
    gradient, positives at ``i + rank * N``), :math:`t = 0.1` and ``sg`` is
    stop-gradient. ``ctr`` is InfoNCE, computed by
    :class:`MultiPositiveContrastiveHead` with one positive per row; no ``2t``
    factor. The targets come from the online network (released code) or, with
    ``ema_momentum``, from an EMA copy of backbone + projector.

    **Rounds.** Every round is its own optimiser step (zero-grad, backward,
    step), as in the released code: :meth:`train_step` runs the data
    preprocessor once and then, per round, the loss and
    ``optim_wrapper.update_params``. So one mmengine iteration (one batch) makes
    ``rounds`` optimiser steps; iteration-based LR schedules step once per
    batch, not per round (the released code steps its LR once per epoch);
    AMP's loss scaler updates every round. Logged values are means over the
    rounds (the released code logs the last round's loss). Under DDP use
    ``model_wrapper_cfg=dict(type='MultiStepDistributedDataParallel')`` so the
    wrapper hands the whole step to :meth:`train_step`.

    Args:
        backbone: A :class:`TokenSubsetViT` config (``out_type='cls_token'``).
        neck: The projector, e.g. ``NonLinearNeck(D, 512, 128, num_layers=3,
            with_avg_pool=False, with_last_bn_affine=False)``.
        head: ``MultiPositiveContrastiveHead(temperature=0.1)``.
        predictor: The predictor, e.g. ``NonLinearNeck(128, 512, 128,
            num_layers=3, with_avg_pool=False, with_last_bn_affine=False)``.
        ema_momentum: ``None`` (default, released code): stop-gradient targets
            from the online network. A float: targets from a moving average
            (:class:`HostStepEMA`) of backbone + projector with this weight
            of the new parameters (mmengine's convention; 0.01 = decay 0.99),
            updated once per optimiser step.
    """

    def __init__(
        self,
        backbone: dict,
        neck: dict,
        head: dict,
        predictor: dict,
        ema_momentum: Optional[float] = None,
        pretrained: Optional[str] = None,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[Union[List[dict], dict]] = None,
    ) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
        )
        self.predictor = predictor if isinstance(predictor, nn.Module) else MODELS.build(predictor)
        if ema_momentum is not None and not 0 < ema_momentum <= 1:
            raise ValueError(
                f'APS: ema_momentum is the weight of the new parameters, in (0, 1]; '
                f'got {ema_momentum} (use 0.01 for a decay of 0.99).'
            )
        self.ema_momentum = ema_momentum
        self.target = (
            None
            if ema_momentum is None
            else HostStepEMA(nn.Sequential(self.backbone, self.neck), ema_momentum)
        )

    # ------------------------------------------------------------------ inputs
    @staticmethod
    def patch_ids(
        data_samples: List[DataSample], num_views: int, device: torch.device
    ) -> List[torch.Tensor]:
        """Per view, the batch's ids as a long tensor [B, rounds, n]."""
        _require_patch_ids(data_samples)
        out = []
        for v in range(num_views):
            try:
                ids = np.stack([np.asarray(ds.patch_ids[v]) for ds in data_samples])
            except (TypeError, ValueError, IndexError) as err:
                raise ValueError(
                    f'APS: view {v} has missing or differently shaped patch_ids '
                    f'across the batch ({err}). {_FIX_IDS}'
                ) from err
            if ids.ndim != 3:
                raise ValueError(
                    f'APS: patch_ids of view {v} must be [rounds, n] per sample, got '
                    f'{ids.shape[1:]}.'
                )
            out.append(torch.from_numpy(ids).long().to(device, non_blocking=True))
        if out[0].shape[1] != out[1].shape[1]:
            raise ValueError(
                f'APS: the views have {out[0].shape[1]} and {out[1].shape[1]} '
                'rounds of patch ids; they must match.'
            )
        return out

    @staticmethod
    def num_rounds(data_samples: List[DataSample]) -> int:
        """The number of sampling rounds, read from the first sample's first view."""
        _require_patch_ids(data_samples)
        return int(np.asarray(data_samples[0].patch_ids[0]).shape[0])

    # ------------------------------------------------------------------- model
    def _project(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return self.neck(self.backbone(x, ids))[0]

    @torch.no_grad()
    def _target(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        backbone, neck = self.target.module[0], self.target.module[1]
        return neck(backbone(x, ids))[0]

    def contrastive(self, p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """InfoNCE of predictions ``p`` [N, C] against stop-gradient targets ``z`` [N, C]
        gathered over all processes."""
        p = F.normalize(p, dim=1)
        z = F.normalize(z.detach(), dim=1)
        targets = torch.cat(all_gather(z), dim=0)
        sim = p @ targets.t()
        cols = torch.arange(p.shape[0], device=p.device) + p.shape[0] * get_rank()
        pos = torch.zeros_like(sim, dtype=torch.float32)
        pos[torch.arange(p.shape[0], device=p.device), cols] = 1.0
        return self.head.loss(sim, pos)

    def forward(
        self,
        inputs,
        data_samples: Optional[List[DataSample]] = None,
        mode: str = 'tensor',
        round_idx: Optional[int] = None,
    ):
        """As ``BaseSelfSupervisor.forward``; ``mode='loss'`` takes the sampling round."""
        if mode == 'loss':
            return self.loss(inputs, data_samples, round_idx=round_idx)
        return super().forward(inputs, data_samples, mode=mode)

    def loss(
        self,
        inputs: List[torch.Tensor],
        data_samples: List[DataSample],
        round_idx: Optional[int] = None,
        **kwargs,
    ) -> Dict[str, torch.Tensor]:
        """The loss of sampling round ``round_idx`` (may be None when there is one round)."""
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            got = len(inputs) if isinstance(inputs, (list, tuple)) else 1
            raise ValueError(f'APS needs 2 views per sample; got {got}. {_FIX_IDS}')
        ids1, ids2 = self.patch_ids(data_samples, 2, inputs[0].device)
        rounds = ids1.shape[1]
        if round_idx is None:
            if rounds != 1:
                raise RuntimeError(
                    f'APS: {rounds} sampling rounds need one optimiser step each, which '
                    'APS.train_step does; the loss was called without round_idx. Under DDP set '
                    "model_wrapper_cfg = dict(type='MultiStepDistributedDataParallel')."
                )
            round_idx = 0
        if not 0 <= round_idx < rounds:
            raise IndexError(f'APS: round_idx {round_idx} outside the {rounds} rounds.')
        x1, x2 = inputs
        s1, s2 = ids1[:, round_idx], ids2[:, round_idx]
        z1, z2 = self._project(x1, s1), self._project(x2, s2)
        p1, p2 = self.predictor((z1,))[0], self.predictor((z2,))[0]
        if self.target is not None:
            self.target.update_parameters(nn.Sequential(self.backbone, self.neck))
            t1, t2 = self._target(x1, s1), self._target(x2, s2)
        else:
            t1, t2 = z1, z2
        loss = self.contrastive(p1, t2) + self.contrastive(p2, t1)
        with torch.no_grad():
            sim = 0.5 * (
                F.cosine_similarity(p1, t2.detach()).mean()
                + F.cosine_similarity(p2, t1.detach()).mean()
            )
        return dict(loss=loss, pos_sim=sim)

    # -------------------------------------------------------------- training
    def train_step(
        self,
        data: Union[dict, tuple, list],
        optim_wrapper: OptimWrapper,
        runner_model: Optional[nn.Module] = None,
    ) -> Dict[str, torch.Tensor]:
        """Preprocess once, then one loss + ``update_params`` per sampling round.

        Args:
            data: A batch from the dataloader.
            optim_wrapper: The (Amp)OptimWrapper.
            runner_model: The module whose forward computes the loss (the DDP
                wrapper under distributed training, so gradients are reduced);
                ``self`` by default.
        """
        model = self if runner_model is None else runner_model
        with optim_wrapper.optim_context(model):
            data = self.data_preprocessor(data, True)
        rounds = self.num_rounds(data['data_samples'])
        totals: Dict[str, torch.Tensor] = OrderedDict()
        for j in range(rounds):
            with optim_wrapper.optim_context(model):
                losses = model(**data, mode='loss', round_idx=j)
            parsed, log_vars = self.parse_losses(losses)
            optim_wrapper.update_params(parsed)
            for key, val in log_vars.items():
                val = val.detach()
                totals[key] = totals[key] + val if key in totals else val
        return OrderedDict((k, v / rounds) for k, v in totals.items())
