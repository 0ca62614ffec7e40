"""WCL: weakly supervised contrastive learning (instance term + 1-NN graph term)."""

import copy
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import get_rank, get_world_size
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..utils.connected_components import num_components
from ..utils.finite import check_finite_projections
from ..utils.gather import gather_rows


@MODELS.register_module()
class WCL(BaseSelfSupervisor):
    r"""Weakly Supervised Contrastive Learning (Zheng et al., ICCV 2021, arXiv 2110.04770).

    One backbone :math:`f` and two projection heads of the same architecture:
    ``neck`` (:math:`g`, instance discrimination) and ``graph_neck``
    (:math:`\phi`, weak labels; a separately initialised copy of ``neck`` by
    default). With :math:`z = n(g(f(x)))` and the two global views of the b local
    images (both views in one backbone pass):

    .. math::
        L = L_{ins} + \lambda\, L_{graph}

    * :math:`L_{ins}` (``head``, a :class:`MultiPositiveContrastiveHead`, t = 0.1):
      NT-Xent over the 2B views of the global batch. For a local anchor :math:`a`
      with positive :math:`p` (its other view) and candidates all other 2B - 1
      views, :math:`L_a = -\log\frac{e^{z_a\cdot z_p/t}}{\sum_{c\neq a} e^{z_a\cdot z_c/t}}`,
      mean over the 2b local anchors. Views of other processes enter without
      gradient (as in the released code; mmpretrain's SimCLR gathers with gradient;
      see ``gather_with_grad``).
    * :math:`L_{graph}` (``graph_head``, :class:`KNNWeakLabelHead`): 1-NN graph
      components of :math:`n(\phi(f(x_v)))` over the global batch as weak labels,
      swapped between the views, same-view SupCon.
    * :math:`\lambda` = ``graph_weight`` (1 in the released code).

    **KNN multi-crop** (the paper's, *not* in the released code; our documented
    reconstruction, off by default, see ``configs/wcl/README.md``): with
    ``num_small_crops = S > 0`` the pipeline adds S small views after the two
    global ones (``MultiView(num_views=[2, S])``); they go through the backbone
    as a second resolution group and through :math:`g`. For each image the
    ``knn_k`` small crops whose :math:`z` is most similar to
    :math:`n(z_1 + z_2)` of its global views are kept (ranking without gradient);
    the others are dropped. The instance term then becomes SupCon over the kept
    views with the image as label: every kept view is an anchor, its positives
    are the other kept views of its image, its candidates all other kept views
    of the global batch. With ``S = 0`` this is exactly the NT-Xent above. The
    small crops do not enter the graph term.

    Args:
        backbone: Backbone config (its last stage feeds both heads).
        neck: Instance projection head :math:`g` (e.g. ``NonLinearNeck`` with
            ``num_layers=3, with_bias=True, with_last_bias=True, with_last_bn=False``).
        head: Instance loss, ``MultiPositiveContrastiveHead(temperature=0.1, mode='supcon')``.
        graph_neck: Graph projection head :math:`\phi`; default: ``neck``'s config.
        graph_head: ``KNNWeakLabelHead`` config.
        graph_weight: :math:`\lambda`.
        num_small_crops: S, the number of small views after the two global ones.
        knn_k: Small crops kept per image (``1 <= knn_k <= S``; ignored for S = 0).
        gather_with_grad: False (released code): the views gathered from other
            processes are constants in both terms, so each process's gradient misses
            the terms in which its views are *candidates* of another process's
            anchors, and N processes take a different step from one process on the
            global batch (the losses are the same). True: a differentiable gather
            sends those gradients back (all-reduce in backward), and N processes
            take the same step as one process. Also set on ``graph_head``.
    """

    def __init__(
        self,
        backbone: dict,
        neck: dict,
        head: Optional[dict] = None,
        graph_neck: Optional[dict] = None,
        graph_head: Optional[dict] = None,
        graph_weight: float = 1.0,
        num_small_crops: int = 0,
        knn_k: int = 2,
        gather_with_grad: bool = False,
        pretrained: Optional[str] = None,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[Union[List[dict], dict]] = None,
    ) -> None:
        if head is None:
            head = dict(type='MultiPositiveContrastiveHead', temperature=0.1, mode='supcon')
        if graph_neck is None:
            if isinstance(neck, nn.Module):
                raise ValueError('WCL: pass graph_neck explicitly when neck is a module.')
            graph_neck = copy.deepcopy(neck)
        if graph_head is None:
            graph_head = dict(type='KNNWeakLabelHead', temperature=0.1)
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
        )
        self.graph_neck = (
            graph_neck if isinstance(graph_neck, nn.Module) else MODELS.build(graph_neck)
        )
        self.graph_head = (
            graph_head if isinstance(graph_head, nn.Module) else MODELS.build(graph_head)
        )
        if not graph_weight >= 0:
            raise ValueError(f'WCL: graph_weight must be >= 0, got {graph_weight}.')
        self.graph_weight = float(graph_weight)
        self.num_small_crops = int(num_small_crops)
        if self.num_small_crops < 0:
            raise ValueError(f'WCL: num_small_crops must be >= 0, got {num_small_crops}.')
        self.knn_k = int(knn_k)
        self.gather_with_grad = bool(gather_with_grad)
        if hasattr(self.graph_head, 'gather_with_grad'):
            self.graph_head.gather_with_grad = self.gather_with_grad
        if self.num_small_crops > 0 and not 1 <= self.knn_k <= self.num_small_crops:
            raise ValueError(
                f'WCL: knn_k={knn_k} small crops per image must lie in '
                f'1..num_small_crops={self.num_small_crops}.'
            )

    # ------------------------------------------------------------------ checks
    def _check_views(self, inputs) -> None:
        need = 2 + self.num_small_crops
        got = len(inputs) if isinstance(inputs, (list, tuple)) else 1
        if got != need:
            mc = (
                f'2 global + num_small_crops={self.num_small_crops} small views, i.e. '
                f'MultiView(num_views=[2, {self.num_small_crops}])'
                if self.num_small_crops
                else 'two views, i.e. MultiView(num_views=2)'
            )
            raise ValueError(
                f'WCL needs {need} views per image ({mc}) but the pipeline gave '
                f'{got}. Fix the train pipeline or model.num_small_crops.'
            )
        if inputs[0].shape != inputs[1].shape:
            raise ValueError(
                'WCL: the two global views must have the same shape, got '
                f'{tuple(inputs[0].shape)} and {tuple(inputs[1].shape)}.'
            )
        small = inputs[2:]
        if small and any(s.shape != small[0].shape for s in small):
            raise ValueError('WCL: all small crops must have the same shape.')

    # -------------------------------------------------------------- the loss
    def instance_loss(
        self, z: torch.Tensor, image_ids: torch.Tensor, batch_size: int
    ) -> torch.Tensor:
        """Instance term over the global batch.

        The head's :meth:`~MultiPositiveContrastiveHead.loss_same_label` with the image as
        label: fp32 similarities, the anchor excluded, the other views of its image positive.

        Args:
            z (torch.Tensor): [V, d] L2-normalised local views (2b global views, then kept
                small crops); other processes hold the same layout.
            image_ids (torch.Tensor): [V] local image index (0..b-1) of every row.
            batch_size (int): b, images per process.

        Returns:
            torch.Tensor: The scalar loss, mean over the V local anchors.
        """
        z_all, offset = gather_rows(z, 'WCL instance term', self.gather_with_grad)
        world, rank = get_world_size(), get_rank()
        shift = batch_size * torch.arange(world, device=z.device).unsqueeze(1)
        ids_all = (image_ids.unsqueeze(0) + shift).reshape(-1)
        return self.head.loss_same_label(z, z_all, offset, image_ids + rank * batch_size, ids_all)

    @torch.no_grad()
    def select_small_crops(self, z_global: torch.Tensor, z_small: torch.Tensor) -> torch.Tensor:
        """Indices [b, knn_k] of the small crops closest to each image's global views.

        Args:
            z_global: [2b, d] normalised, view 1 then view 2.
            z_small: [S, b, d] normalised.
        """
        b = z_small.shape[1]
        center = F.normalize(z_global[:b] + z_global[b:], dim=1)
        score = torch.einsum('sbd,bd->bs', z_small.detach(), center.detach())
        return score.topk(self.knn_k, dim=1).indices

    def loss(
        self, inputs: List[torch.Tensor], data_samples: List[DataSample], **kwargs
    ) -> Dict[str, torch.Tensor]:
        self._check_views(inputs)
        b = inputs[0].shape[0]
        feat = self.backbone(torch.cat([inputs[0], inputs[1]], dim=0))
        z = self.neck(feat)[0]
        # graph_weight=0 leaves graph_neck unused (DDP then needs find_unused_parameters=True)
        u = self.graph_neck(feat)[0] if self.graph_weight > 0 else None
        check_finite_projections('WCL', 'instance-head (neck)', z)
        z = F.normalize(z, dim=1)
        ids = torch.arange(b, device=z.device).repeat(2)
        if self.num_small_crops:
            s = self.num_small_crops
            zs = self.neck(self.backbone(torch.cat(list(inputs[2:]), dim=0)))[0]
            check_finite_projections('WCL', 'small-crop instance-head (neck)', zs)
            zs = F.normalize(zs, dim=1).view(s, b, -1)
            top = self.select_small_crops(z, zs)  # [b, k]
            kept = zs.transpose(0, 1)[torch.arange(b, device=z.device).unsqueeze(1), top]
            z = torch.cat([z, kept.reshape(b * self.knn_k, -1)], dim=0)
            ids = torch.cat([ids, torch.arange(b, device=z.device).repeat_interleave(self.knn_k)])
        losses = dict(loss_ins=self.instance_loss(z, ids, b))
        if self.graph_weight > 0:
            loss_graph, labels = self.graph_head.loss(u[:b], u[b:], return_labels=True)
            losses['loss_graph'] = self.graph_weight * loss_graph
            with torch.no_grad():
                n = labels['labels1'].numel()
                comps = 0.5 * (
                    num_components(labels['labels1']) + num_components(labels['labels2'])
                )
                losses['graph_mean_size'] = n / comps
                purity = self.graph_purity(labels, data_samples, z.device)
                if purity is not None:
                    losses['graph_purity'] = purity
        return losses

    @staticmethod
    @torch.no_grad()
    def graph_purity(
        weak: Dict[str, torch.Tensor], data_samples: List[DataSample], device: torch.device
    ) -> Optional[torch.Tensor]:
        r"""Label purity (%) of the weak labels: a monitor, never part of the loss.

        For every image :math:`i` of the global batch and each view's graph, the share of its
        component mates :math:`\{j \neq i : y_v(j) = y_v(i)\}` that have its class;
        mean over images and the two views; images without a label are left out. None when
        the samples carry no ``gt_label`` (a folder without labels). Computed on the device
        (no device-to-host read of its own).
        """
        if not any('gt_label' in ds for ds in data_samples):
            return None  # an unlabelled data set (the same on every rank)
        # one entry per sample, -1 where a label is missing, so that every rank gathers the
        # same number of entries; gathered on the device (the data preprocessor has moved
        # the labels there: reading them on the host would be one sync per sample)
        cls = torch.cat(
            [
                ds.gt_label.reshape(-1)[:1].to(device=device, dtype=torch.long)
                if 'gt_label' in ds and ds.gt_label.numel()
                else torch.full((1,), -1, dtype=torch.long, device=device)
                for ds in data_samples
            ]
        )
        if get_world_size() > 1:
            from mmengine.dist import all_gather

            cls = torch.cat(all_gather(cls))
        if cls.numel() != weak['labels1'].numel():
            return None
        known = cls >= 0
        same_cls = (cls.unsqueeze(0) == cls.unsqueeze(1)) & known.unsqueeze(0)
        not_self = ~torch.eye(cls.numel(), dtype=torch.bool, device=device)
        not_self &= known.unsqueeze(0) & known.unsqueeze(1)  # pairs of labelled images only
        shares = []
        for comp in (weak['labels1'], weak['labels2']):
            mates = (comp.unsqueeze(0) == comp.unsqueeze(1)) & not_self
            hits = (mates & same_cls).sum(1).float()
            count = mates.sum(1)
            share = hits / count.clamp(min=1).float()
            shares.append(share.sum() / (count > 0).sum().clamp(min=1).float())
        return 50.0 * (shares[0] + shares[1])
