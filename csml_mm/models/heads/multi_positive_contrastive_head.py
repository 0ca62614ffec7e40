"""One contrastive-loss core for every multi-positive method in csml_mm."""

from typing import Optional

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from csml_mm.utils.host_checks import host_checks_enabled

_MODES = ('per_positive', 'supcon')


@MODELS.register_module()
class MultiPositiveContrastiveHead(BaseModule):
    r"""Contrastive loss with several weighted positives per anchor.

    Inputs are a similarity matrix ``sim`` [N, M] (cosine similarities), the
    non-negative weights ``pos_weight`` [N, M] of the positives (normalised per
    row to sum to 1, :math:`\tilde w_{ip}`) and ``valid`` [N, M], the columns that
    take part (default: all). With :math:`\ell_{ij} = s_{ij} / t`, :math:`P(i)`
    the columns with positive weight and :math:`\mathcal{N}(i)` the valid
    columns that are not positives:

    ``'per_positive'`` (the CsMl code: a weighted sum of one-positive InfoNCE
    terms, each positive competing only with the negatives):

    .. math::
        L_i = \sum_{p \in P(i)} \tilde w_{ip}\,\big[\log(e^{\ell_{ip}} +
              \textstyle\sum_{n \in \mathcal{N}(i)} e^{\ell_{in}}) - \ell_{ip}\big]

    ``'supcon'`` (supervised contrastive, Khosla et al. 2020; WCL's graph loss):

    .. math::
        L_i = -\sum_{p \in P(i)} \tilde w_{ip}\,\big[\ell_{ip} -
              \log \textstyle\sum_{a\ \mathrm{valid}} e^{\ell_{ia}}\big]

    The loss is the mean of :math:`L_i` over rows. With one positive per row both
    modes equal InfoNCE (van den Oord et al. 2018). Everything is computed in fp32
    with log-sum-exp, also under autocast.

    Args:
        temperature: :math:`t`.
        mode: ``'per_positive'`` or ``'supcon'``.
    """

    def __init__(
        self, temperature: float = 0.2, mode: str = 'per_positive', init_cfg: Optional[dict] = None
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if mode not in _MODES:
            raise ValueError(
                f'MultiPositiveContrastiveHead: mode must be one of {_MODES}, got {mode!r}.'
            )
        if not temperature > 0:
            raise ValueError(f'temperature must be positive, got {temperature}.')
        self.temperature = float(temperature)
        self.mode = mode

    def loss(
        self, sim: torch.Tensor, pos_weight: torch.Tensor, valid: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """Mean multi-positive contrastive loss over the rows of ``sim``."""
        return self.loss_per_row(sim, pos_weight, valid).mean()

    def loss_per_row(
        self, sim: torch.Tensor, pos_weight: torch.Tensor, valid: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """:math:`L_i` for every row, shape [N]."""
        if sim.dim() != 2 or sim.shape != pos_weight.shape:
            raise ValueError(
                f'sim and pos_weight must both be [N, M]; got {tuple(sim.shape)} '
                f'and {tuple(pos_weight.shape)}.'
            )
        if valid is None:
            valid = torch.ones_like(sim, dtype=torch.bool)
        elif valid.shape != sim.shape or valid.dtype != torch.bool:
            raise ValueError('valid must be a bool tensor shaped like sim.')
        with torch.autocast(device_type=sim.device.type, enabled=False):
            logits = sim.float() / self.temperature
            weight = _normalised_weight(pos_weight)
            is_pos = weight > 0
            if host_checks_enabled(is_pos) and (is_pos & ~valid).any():
                raise ValueError('A positive (pos_weight > 0) lies in a column marked invalid.')
            if self.mode == 'per_positive':
                neg = logits.masked_fill(~(valid & ~is_pos), float('-inf'))
                neg_lse = torch.logsumexp(neg, dim=1, keepdim=True)  # -inf if no negative
                per_pos = torch.logaddexp(logits, neg_lse) - logits
            else:
                all_lse = torch.logsumexp(
                    logits.masked_fill(~valid, float('-inf')), dim=1, keepdim=True
                )
                per_pos = all_lse - logits
            return _weighted_rows(weight, is_pos, per_pos)

    def loss_same_label(
        self,
        feats: torch.Tensor,
        feats_all: torch.Tensor,
        offset: int,
        labels: torch.Tensor,
        labels_all: torch.Tensor,
    ) -> torch.Tensor:
        """The loss of local anchors against a gathered batch, positives sharing a label.

        The layout of WCL's instance term (label: the image) and its graph term (label: the
        1-NN graph component): anchor ``i`` is row ``offset + i`` of the gathered batch. The
        similarities ``feats @ feats_all.T`` are computed in fp32 (also under autocast), the
        anchor's own column takes part neither as a positive nor as a candidate, and every
        other column with the anchor's label is a positive of weight 1 (so with one positive
        per row: InfoNCE over the other ``N - 1`` columns).

        Args:
            feats (torch.Tensor): [b, d] local anchors (L2-normalised for cosine similarities).
            feats_all (torch.Tensor): [N, d] every row of the global batch, the local rows at
                ``offset .. offset + b - 1``.
            offset (int): Row of ``feats_all`` that holds the first local anchor.
            labels (torch.Tensor): [b] label of every anchor.
            labels_all (torch.Tensor): [N] label of every row of ``feats_all``.

        Returns:
            torch.Tensor: The scalar mean loss over the ``b`` anchors (:meth:`loss`).
        """
        b, n = feats.shape[0], feats_all.shape[0]
        with torch.autocast(device_type=feats.device.type, enabled=False):
            sim = feats.float() @ feats_all.float().T  # fp32: no bf16/fp16 similarities
        rows = torch.arange(b, device=feats.device)
        valid = torch.ones(b, n, dtype=torch.bool, device=feats.device)
        valid[rows, rows + offset] = False  # the anchor itself
        pos = (labels.unsqueeze(1) == labels_all.unsqueeze(0)) & valid
        return self.loss(sim, pos.float(), valid)

    def loss_shared_negatives(
        self, pos_sim: torch.Tensor, pos_weight: torch.Tensor, neg_sim: torch.Tensor
    ) -> torch.Tensor:
        """The same loss when every row's negatives are all of ``neg_sim``.

        The common layout of queue-based methods (CsMl: a few positives per query,
        then the whole queue): ``pos_sim`` [N, P] with ``pos_weight`` [N, P], and
        ``neg_sim`` [N, K]. A positive column with weight 0 in a row takes no part
        in that row (it is neither a positive nor a negative). Equal to
        :meth:`loss` on ``[pos_sim | neg_sim]`` with the zero-weight positive
        columns marked invalid, but the per-positive terms are formed only on the
        P positive columns and the K negatives enter through one log-sum-exp per
        row, instead of masking and combining the whole [N, P + K] matrix.
        """
        return self.loss_per_row_shared_negatives(pos_sim, pos_weight, neg_sim).mean()

    def loss_per_row_shared_negatives(
        self, pos_sim: torch.Tensor, pos_weight: torch.Tensor, neg_sim: torch.Tensor
    ) -> torch.Tensor:
        """:math:`L_i` for every row of :meth:`loss_shared_negatives`, shape [N]."""
        if pos_sim.dim() != 2 or pos_sim.shape != pos_weight.shape:
            raise ValueError(
                f'pos_sim and pos_weight must both be [N, P]; got '
                f'{tuple(pos_sim.shape)} and {tuple(pos_weight.shape)}.'
            )
        if neg_sim.dim() != 2 or neg_sim.shape[0] != pos_sim.shape[0]:
            raise ValueError(
                f'neg_sim must be [N, K] with the N={pos_sim.shape[0]} rows of '
                f'pos_sim; got {tuple(neg_sim.shape)}.'
            )
        with torch.autocast(device_type=pos_sim.device.type, enabled=False):
            pos = pos_sim.float() / self.temperature
            neg_lse = torch.logsumexp(
                neg_sim.float() / self.temperature, dim=1, keepdim=True
            )  # -inf if K = 0
            weight = _normalised_weight(pos_weight)
            is_pos = weight > 0
            if self.mode == 'per_positive':
                per_pos = torch.logaddexp(pos, neg_lse) - pos
            else:
                pos_lse = torch.logsumexp(
                    pos.masked_fill(~is_pos, float('-inf')), dim=1, keepdim=True
                )
                per_pos = torch.logaddexp(pos_lse, neg_lse) - pos
            return _weighted_rows(weight, is_pos, per_pos)


def _normalised_weight(pos_weight: torch.Tensor) -> torch.Tensor:
    """Check the positive weights (non-negative, at least one per row); rows sum to 1."""
    weight = pos_weight.float()
    row_sum = weight.sum(dim=1, keepdim=True)
    if not host_checks_enabled(weight):  # on a GPU: no host read (csml_mm.utils.host_checks)
        return weight / row_sum
    if (weight < 0).any():
        raise ValueError('pos_weight must be non-negative.')
    if (row_sum <= 0).any():
        rows = torch.nonzero(row_sum.squeeze(1) <= 0).flatten()[:5].tolist()
        raise ValueError(
            f'Rows {rows} have no positive: every row of pos_weight needs '
            'at least one positive weight.'
        )
    return weight / row_sum


def _weighted_rows(
    weight: torch.Tensor, is_pos: torch.Tensor, per_pos: torch.Tensor
) -> torch.Tensor:
    """sum_p w_ip * per_pos_ip, where zero weights must not pick up inf/nan."""
    per_pos = torch.where(is_pos, per_pos, torch.zeros_like(per_pos))
    return (weight * per_pos).sum(dim=1)
