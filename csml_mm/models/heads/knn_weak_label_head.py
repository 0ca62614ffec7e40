"""WCL's graph term: weak labels from a 1-NN graph, supervised contrastive loss."""

from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.dist import broadcast, get_world_size
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from ..utils.connected_components import connected_component_labels
from ..utils.finite import check_finite_projections
from ..utils.gather import gather_rows
from .multi_positive_contrastive_head import MultiPositiveContrastiveHead

_LABEL_SOURCES = ('swap', 'same')


@MODELS.register_module()
class KNNWeakLabelHead(BaseModule):
    r"""Weak labels from k-NN graph components + same-view SupCon (WCL's head :math:`\phi` loss).

    Zheng et al., "Weakly Supervised Contrastive Learning", ICCV 2021. With
    :math:`U_v` the L2-normalised projections of view :math:`v \in \{1, 2\}` of the
    *global* batch (B images, gathered over all processes) and :math:`y_v` the
    connected-component labels of the 1-NN graph over :math:`U_v` (self excluded,
    undirected; :func:`~csml_mm.models.utils.connected_component_labels`, no
    gradient), every local anchor :math:`i` of view 1 is contrasted with the same
    view of the other images and supervised by the labels of *view 2*
    (``label_source='swap'``, the released code), and vice versa:

    .. math::
        L^{(1)}_i = -\frac{1}{|P_2(i)|}\sum_{p \in P_2(i)}\Big[\frac{u_{1,i}\cdot u_{1,p}}{t}
              - \log \sum_{a \neq i} \exp\frac{u_{1,i}\cdot u_{1,a}}{t}\Big],\qquad
        P_2(i) = \{p \neq i : y_2(p) = y_2(i)\}

    :math:`L = \tfrac12(\overline{L^{(1)}} + \overline{L^{(2)}})`, means over the local
    anchors. The anchor is excluded from its positives and from the denominator
    (B - 1 terms). Every component of a 1-NN graph has at least two nodes, so every
    anchor has a positive. Other processes' projections enter without gradient
    (released code) unless ``gather_with_grad``.
    The SupCon core is :meth:`MultiPositiveContrastiveHead.loss_same_label` in ``'supcon'``
    mode (fp32 similarities and log-sum-exp), the same as WCL's instance term.

    The graph is computed on every process from the same gathered tensor and the
    labels of rank 0 are broadcast, so all processes use identical weak labels
    (the released code builds the graph on rank 0 and scatters the mask).

    Args:
        temperature: :math:`t` (WCL: 0.1).
        num_neighbours: k of the k-NN graph (WCL: 1; larger k merges components).
        label_source: ``'swap'`` (view-2 labels supervise view 1; the method) or
            ``'same'`` (each view supervised by its own graph; an ablation).
        chunk_size: Rows per similarity block when building the graph.
        gather_with_grad: Send the gradient of the other processes' anchors back to
            this process's rows (:func:`gather_rows`), so that N processes take the
            same step as one process on the global batch. False: the released code.
    """

    def __init__(
        self,
        temperature: float = 0.1,
        num_neighbours: int = 1,
        label_source: str = 'swap',
        chunk_size: int = 4096,
        gather_with_grad: bool = False,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if label_source not in _LABEL_SOURCES:
            raise ValueError(
                f'KNNWeakLabelHead: label_source must be one of {_LABEL_SOURCES}, '
                f'got {label_source!r}.'
            )
        if int(num_neighbours) < 1:
            raise ValueError(
                f'KNNWeakLabelHead: num_neighbours must be >= 1, got {num_neighbours}.'
            )
        self.contrast = MultiPositiveContrastiveHead(temperature=temperature, mode='supcon')
        self.temperature = float(temperature)
        self.num_neighbours = int(num_neighbours)
        self.label_source = label_source
        self.chunk_size = int(chunk_size)
        self.gather_with_grad = bool(gather_with_grad)

    @torch.no_grad()
    def weak_labels(self, u: torch.Tensor) -> torch.Tensor:
        """Component labels of the k-NN graph over the (global) rows of ``u``."""
        labels = connected_component_labels(
            u.detach(), k=self.num_neighbours, chunk_size=self.chunk_size
        )
        if get_world_size() > 1:
            broadcast(labels, src=0)
        return labels

    def _supcon(
        self, u_local: torch.Tensor, u_all: torch.Tensor, offset: int, labels: torch.Tensor
    ) -> torch.Tensor:
        """Same-view SupCon of the local anchors, supervised by the global ``labels`` [N]."""
        b = u_local.shape[0]
        return self.contrast.loss_same_label(
            u_local, u_all, offset, labels[offset : offset + b], labels
        )

    def loss(
        self, z1: torch.Tensor, z2: torch.Tensor, return_labels: bool = False
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, Dict[str, torch.Tensor]]]:
        """Graph loss of the local projections ``z1, z2`` [b, d] of the two views.

        Gathers over all processes itself (works without a process group).

        Returns:
            The scalar loss, and with ``return_labels`` also
            ``{'labels1': y_1, 'labels2': y_2}`` over the global batch.
        """
        if z1.dim() != 2 or z1.shape != z2.shape:
            raise ValueError(
                f'KNNWeakLabelHead: z1 and z2 must both be [b, d], got '
                f'{tuple(z1.shape)} and {tuple(z2.shape)}.'
            )
        check_finite_projections(
            'KNNWeakLabelHead', 'graph-head', z1, z2, consequence=', so no graph can be built'
        )
        u1, u2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
        u1_all, offset = gather_rows(u1, 'KNNWeakLabelHead', self.gather_with_grad)
        u2_all, _ = gather_rows(u2, 'KNNWeakLabelHead', self.gather_with_grad)
        n = u1_all.shape[0]
        if n < 2:
            raise ValueError(
                f'KNNWeakLabelHead: the nearest-neighbour graph needs at least 2 samples in '
                f'the global batch (train_dataloader.batch_size x processes), got {n}. '
                'Increase train_dataloader.batch_size.'
            )
        y1, y2 = self.weak_labels(u1_all), self.weak_labels(u2_all)
        sup1, sup2 = (y2, y1) if self.label_source == 'swap' else (y1, y2)
        loss = 0.5 * (
            self._supcon(u1, u1_all, offset, sup1) + self._supcon(u2, u2_all, offset, sup2)
        )
        if return_labels:
            return loss, dict(labels1=y1, labels2=y2)
        return loss
