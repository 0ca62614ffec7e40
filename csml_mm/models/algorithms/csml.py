"""CsMl: MoCo with cross-sample (neighbour) and CutMix positives, at one or several levels."""

from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_gather
from mmengine.logging import MessageHub
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.models.utils import batch_shuffle_ddp, batch_unshuffle_ddp
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..utils.cutmix import cutmix_pair
from ..utils.ema import HostStepEMA
from ..utils.split_bn import batch_norms_all_split, grouped_batch_norm


@MODELS.register_module()
class CsMl(BaseSelfSupervisor):
    r"""Cross-samples and Multi-level contrastive learning (CsMl; HSA as its v1).

    MoCo v2 (query encoder, EMA key encoder, queue of keys, shuffle-BN) in which
    every anchor also has a *neighbour* image (one of its K nearest neighbours in
    the momentum encoder's feature space, mined by ``NeighbourMiningHook``) and a
    *CutMix* image of anchor and neighbour. The dataset returns four views
    ``[x_q, x_k, x'_q, x'_k]``: two of the anchor, two of the neighbour. With
    ``q, q', q_mix`` the normalised query projections of ``x_q, x'_q`` and
    ``mix(x_q, x'_q)``, and ``k, k'`` the key projections of ``x_k, x'_k``, at each
    level (Xu et al., "Seed the Views", arXiv 2012.02733; the released code)::

        L_anchor = w_s l(q,  k)  + w_c l(q,  k')
        L_nb     = w_s l(q', k') + w_c l(q', k)        (when neighbour_query)
        L_mix    = lam l(q_mix, k) + (1 - lam) l(q_mix, k')
        L_level  = mean of the active terms      (the code: sum / 3)
        L        = sum_levels alpha_level * L_level

    where ``l(q, p)`` is InfoNCE of ``q`` with positive ``p`` against that
    level's queue only (each positive has its own term: the other positive is not
    in its denominator; ``MultiPositiveContrastiveHead`` in ``'per_positive'``
    mode), ``(w_s, w_c) = cross_weights`` after ``cross_warmup_epochs`` and
    ``(1, 0)`` before, and ``lam`` the anchor's share of the CutMix image,
    recomputed from the clipped box with ``lam0 ~ Beta(cutmix_alpha, cutmix_alpha)``.
    Only the anchor keys ``k`` are enqueued.

    ``use_neighbour=False, use_cutmix=False`` leaves ``L = l(q, k)``: MoCo v2.
    ``neighbour_query=False`` [DESIGN] keeps the neighbour as a positive key of the
    anchor's query (``L_anchor``) but drops it as a query (no ``L_nb``): one query
    pass and two key passes a step instead of two and two, so a step costs about
    1.25 MoCo v2 steps instead of 2 (``configs/csml/README.md``).

    Args:
        backbone, neck, head: Configs; the neck returns one projection per level
            (``MultiLevelProjectionNeck``) and the head is a
            ``MultiPositiveContrastiveHead``.
        queue_len: Keys per queue (one queue per level).
        feat_dim: Projection dimension.
        momentum: Weight of the new parameters in the EMA (mmengine's convention;
            the paper's m = 0.999 is 0.001 here).
        use_neighbour: Cross-sample positives ``L_nb`` and the ``w_c`` terms.
        use_cutmix: The ``L_mix`` term (needs the neighbour views).
        neighbour_query: The ``L_nb`` term, the neighbour image as a query (the
            released code's choice, default); ``False`` saves its encoder pass.
        cross_weights: ``(w_s, w_c)``; normalised to sum to 1 per term.
        cross_warmup_epochs: Epochs (0-based, ``epoch < cross_warmup_epochs``) with
            ``(1, 0)``: the code uses 11 for 200 epochs; scale it with the schedule.
        cutmix_alpha: Beta parameter of ``lam0``.
        level_weights: ``alpha`` per level (default 1 for every level).
        fuse_views: [DESIGN] Run the three query images (anchor, neighbour, CutMix)
            through the backbone as one stacked batch, and the two key images as
            another, when every batch norm of the backbone is a ``SplitBN``
            (:func:`~csml_mm.models.utils.grouped_batch_norm` then gives each image
            set its own statistics, as separate passes would; the neck still runs
            per set). Same losses and gradients up to rounding, one larger pass
            instead of several (``tools/benchmarks/bench_fused_views.py``); with
            other norms the passes stay separate. The running BN statistics take one
            update per stacked pass instead of one per set.
    """

    def __init__(
        self,
        backbone: dict,
        neck: dict,
        head: dict,
        queue_len: int = 65536,
        feat_dim: int = 128,
        momentum: float = 0.001,
        use_neighbour: bool = True,
        use_cutmix: bool = True,
        neighbour_query: bool = True,
        cross_weights: Sequence[float] = (0.5, 0.5),
        cross_warmup_epochs: int = 11,
        cutmix_alpha: float = 2.0,
        level_weights: Optional[Sequence[float]] = None,
        fuse_views: bool = True,
        pretrained: Optional[str] = None,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[Union[List[dict], dict]] = None,
    ) -> None:
        self._check_backbone_cfg(backbone)
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
        )
        if use_cutmix and not use_neighbour:
            raise ValueError(
                'CsMl: use_cutmix=True needs use_neighbour=True (the CutMix image '
                'mixes the anchor with its neighbour).'
            )
        if len(cross_weights) != 2 or min(cross_weights) < 0 or sum(cross_weights) <= 0:
            raise ValueError(
                f'cross_weights must be two non-negative numbers, got {cross_weights}.'
            )
        self.num_levels = self._check_levels()
        self.level_weights = (
            [1.0] * self.num_levels if level_weights is None else [float(w) for w in level_weights]
        )
        if len(self.level_weights) != self.num_levels:
            raise ValueError(
                f'level_weights has {len(self.level_weights)} entries for '
                f'{self.num_levels} levels (backbone.out_indices).'
            )
        if queue_len == 'auto':
            raise ValueError(
                "queue_len='auto' is sized from the training set by tools/train.py "
                '(csml_mm.utils.run_size.resolve_auto_queue); building the model '
                'another way, give a number.'
            )
        self.queue_len = int(queue_len)
        self.feat_dim = int(feat_dim)
        self.use_neighbour = use_neighbour
        self.use_cutmix = use_cutmix
        self.neighbour_query = bool(neighbour_query) and use_neighbour
        self.cross_weights = tuple(float(w) for w in cross_weights)
        self.cross_warmup_epochs = int(cross_warmup_epochs)
        self.cutmix_alpha = float(cutmix_alpha)
        self.fuse_views = bool(fuse_views)

        self.encoder_k = HostStepEMA(nn.Sequential(self.backbone, self.neck), momentum)
        queue = F.normalize(torch.randn(self.num_levels, self.feat_dim, self.queue_len), dim=1)
        self.register_buffer('queue', queue)
        self.register_buffer('queue_ptr', torch.zeros(1, dtype=torch.long))
        # host copy of queue_ptr: the enqueue position without a device read each step; the
        # buffer is still written (and saved); after loading it is read once
        self._host_ptr: Optional[int] = 0

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._host_ptr = None

    # ------------------------------------------------------------------ set-up
    @staticmethod
    def _check_backbone_cfg(backbone: Union[dict, nn.Module]) -> None:
        """Name a bad ``out_indices`` before the backbone's own assertion does.

        The one home of this check: ``backbone`` is the config (``num_stages`` defaults
        to ResNet's 4) or an already built backbone (checked when it has both
        ``out_indices`` and ``num_stages``).

        Raises:
            ValueError: an output index outside ``-num_stages .. num_stages - 1``.
        """
        if isinstance(backbone, dict):
            out_indices, num_stages = backbone.get('out_indices'), backbone.get('num_stages', 4)
        else:
            out_indices = getattr(backbone, 'out_indices', None)
            num_stages = getattr(backbone, 'num_stages', None)
        if out_indices is None or num_stages is None:
            return
        out_indices = (out_indices,) if isinstance(out_indices, int) else tuple(out_indices)
        bad = [i for i in out_indices if not -num_stages <= i < num_stages]
        if bad:
            raise ValueError(
                f'backbone.out_indices={out_indices}: the backbone has '
                f'{num_stages} stages (indices 0..{num_stages - 1}), so {bad} is '
                'not a stage it outputs.'
            )

    def _check_levels(self) -> int:
        """The number of levels: one per backbone output, each with a neck projection."""
        out_indices = tuple(getattr(self.backbone, 'out_indices', (0,)))
        neck_levels = getattr(self.neck, 'num_levels', 1)
        if neck_levels != len(out_indices):
            raise ValueError(
                f'backbone.out_indices={out_indices} gives {len(out_indices)} '
                f'levels but the neck projects {neck_levels}: give the neck one '
                'in_channels entry per output stage.'
            )
        return len(out_indices)

    def init_weights(self) -> None:
        """Initialise (or load ``Pretrained``) the online encoder, then copy it into the key
        encoder.

        The key encoder is a deep copy made in ``__init__``, before the runner calls
        ``init_weights``; without this copy it would keep the construction-time
        weights until the first training step, and the neighbours mined before that
        step would come from a network that is never trained.
        """
        super().init_weights()
        self.sync_momentum_encoder()

    @torch.no_grad()
    def sync_momentum_encoder(self) -> None:
        """Copy the online backbone+neck (parameters and buffers) into the key encoder."""
        online = nn.Sequential(self.backbone, self.neck)
        for dst, src in zip(self.encoder_k.module.parameters(), online.parameters()):
            dst.data.copy_(src.data)
        for dst, src in zip(self.encoder_k.module.buffers(), online.buffers()):
            dst.data.copy_(src.data)

    # ------------------------------------------------------- neighbour mining
    # The interface NeighbourMiningHook uses (csml_mm.engine.hooks.neighbour_mining_hook.
    # MiningModel); the hook reads nothing else of the model.
    def wants_mining(self, epoch: int) -> bool:
        """Whether the neighbours must be mined afresh at the start of ``epoch``.

        Besides the hook's own interval: at the first epoch whose loss uses the
        neighbours as cross-sample positives (``cross_warmup_epochs``), so that its
        table comes from the network trained so far. Never without ``use_neighbour``.

        Args:
            epoch: The 0-based epoch about to start.

        Returns:
            ``True`` at ``epoch == cross_warmup_epochs`` when ``use_neighbour``.
        """
        return bool(self.use_neighbour) and epoch == self.cross_warmup_epochs

    @torch.no_grad()
    def prepare_mining(self) -> None:
        """Make the momentum encoder ready to embed the dataset; called before each mining.

        Before the first training step (the key encoder's EMA step count is 0) the key
        encoder is copied from the online encoder (:meth:`sync_momentum_encoder`), so
        even the epoch-0 table comes from the network being trained (e.g. after a
        ``Pretrained`` init). Afterwards the key encoder is used as it is. The copy is
        deterministic, so every rank ends with the same weights.
        """
        if int(self.encoder_k.steps) == 0:
            self.sync_momentum_encoder()

    def mining_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Features to mine neighbours with: the momentum backbone's last stage.

        The hook calls it under ``torch.no_grad()`` with the model in eval mode (BN
        running statistics).

        Args:
            inputs: ``[B, C, H, W]`` pre-processed images.

        Returns:
            ``[B, D]`` float32 features of the key encoder's backbone (last output,
            globally average-pooled, before the projection), L2-normalised.
        """
        feat = self.encoder_k.module[0](inputs)[-1]
        if feat.dim() == 4:
            feat = feat.mean(dim=(2, 3))
        return F.normalize(feat.float(), dim=1)

    def training_set_warning(self, num_images: int) -> Optional[str]:
        """A warning about this model on a training set of ``num_images`` images, or ``None``.

        Args:
            num_images: Images in the training set.

        Returns:
            The warning when the queue holds at least half the training set: it then
            holds earlier keys of the anchors themselves (and of their neighbours) as
            negatives.
        """
        if self.queue_len < num_images // 2:
            return None
        return (
            f'queue_len={self.queue_len} is at least half the training set ({num_images} '
            'images): the queue then holds earlier keys of the anchors themselves (and of '
            'their neighbours) as negatives, which works against learning. Use a queue '
            'well below the dataset size (MoCo: 4096 of 50,000 on CIFAR-10); set '
            'model.queue_len to a multiple of the global batch.'
        )

    # --------------------------------------------------------------- encoders
    def _project(self, x: torch.Tensor) -> List[torch.Tensor]:
        return [F.normalize(z, dim=1) for z in self.neck(self.backbone(x))]

    @torch.no_grad()
    def _keys(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Key projections with shuffle-BN across ranks."""
        x, idx_unshuffle = batch_shuffle_ddp(x)
        keys = [F.normalize(z, dim=1) for z in self.encoder_k(x)]
        return [batch_unshuffle_ddp(k, idx_unshuffle) for k in keys]

    def _stacks(self, xs: Sequence[torch.Tensor]) -> bool:
        """Whether ``xs`` go through the backbone as one stacked batch (``fuse_views``)."""
        return (
            self.fuse_views
            and len(xs) > 1
            and all(x.shape == xs[0].shape for x in xs)
            and batch_norms_all_split(self.backbone)
        )

    @staticmethod
    def _stacked_pass(
        backbone: nn.Module, neck: nn.Module, xs: Sequence[torch.Tensor]
    ) -> List[List[torch.Tensor]]:
        """Backbone on ``cat(xs)`` with one BN group per image set, then the neck per set."""
        with grouped_batch_norm(backbone, len(xs)):
            feats = backbone(torch.cat(list(xs)))
        per_set = zip(*[f.split(xs[0].shape[0]) for f in feats])
        return [[F.normalize(z, dim=1) for z in neck(tuple(chunk))] for chunk in per_set]

    def _project_sets(self, xs: Sequence[torch.Tensor]) -> List[List[torch.Tensor]]:
        """Query projections of each image set (stacked into one pass where it is exact)."""
        if not self._stacks(xs):
            return [self._project(x) for x in xs]
        return self._stacked_pass(self.backbone, self.neck, xs)

    @torch.no_grad()
    def _keys_sets(self, xs: Sequence[torch.Tensor]) -> List[List[torch.Tensor]]:
        """Key projections of each image set; each set is shuffled on its own (shuffle-BN)."""
        if not self._stacks(xs):
            return [self._keys(x) for x in xs]
        shuffled, unshuffle = zip(*[batch_shuffle_ddp(x) for x in xs])
        backbone_k, neck_k = self.encoder_k.module[0], self.encoder_k.module[1]
        keys = self._stacked_pass(backbone_k, neck_k, shuffled)
        return [[batch_unshuffle_ddp(k, idx) for k in ks] for ks, idx in zip(keys, unshuffle)]

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys: List[torch.Tensor]) -> None:
        keys = [torch.cat(all_gather(k), dim=0) for k in keys]
        batch = keys[0].shape[0]
        if self.queue_len % batch != 0:
            raise ValueError(
                f'CsMl: queue_len={self.queue_len} is not a multiple of the global batch '
                f'{batch} (batch per process x processes). Set model.queue_len to a multiple '
                f'of {batch} or change train_dataloader.batch_size.'
            )
        ptr = int(self.queue_ptr) if self._host_ptr is None else self._host_ptr
        for level, k in enumerate(keys):
            self.queue[level, :, ptr : ptr + batch] = k.T
        self._host_ptr = (ptr + batch) % self.queue_len
        self.queue_ptr.fill_(self._host_ptr)

    # ------------------------------------------------------------------- loss
    def current_cross_weights(self) -> Tuple[float, float]:
        epoch = MessageHub.get_current_instance().get_info('epoch', 0)
        if not self.use_neighbour or epoch < self.cross_warmup_epochs:
            return 1.0, 0.0
        return self.cross_weights

    def _term(
        self,
        q: torch.Tensor,
        positives: Sequence[torch.Tensor],
        weights: Sequence[float],
        queue: torch.Tensor,
    ) -> torch.Tensor:
        """One query against weighted positives and the queue (per_positive).

        A positive with weight 0 drops out (as a 0-weighted term would); it never
        becomes a negative. The queue enters through one log-sum-exp per row
        (``loss_shared_negatives``), not as columns of a masked [N, P + K] matrix.
        """
        pos = torch.stack([(q * p).sum(dim=1) for p in positives], dim=1)
        w = pos.new_tensor([float(wj) for wj in weights], dtype=torch.float32)
        return self.head.loss_shared_negatives(pos, w.expand(pos.shape[0], -1), q @ queue)

    def _check_views(self, inputs: List[torch.Tensor]) -> None:
        need = 4 if self.use_neighbour else 2
        if not isinstance(inputs, (list, tuple)) or len(inputs) < need:
            got = len(inputs) if isinstance(inputs, (list, tuple)) else 1
            raise ValueError(
                f'CsMl needs {need} views per sample ([anchor_q, anchor_k'
                f'{", neighbour_q, neighbour_k" if need == 4 else ""}]) but the pipeline gave '
                f'{got}. Use the NeighbourViewsDataset wrapper with MultiView(num_views=2) '
                '(configs/_base_/datasets/*_csml.py), or set use_neighbour=False.'
            )

    def loss(
        self, inputs: List[torch.Tensor], data_samples: List[DataSample], **kwargs
    ) -> Dict[str, torch.Tensor]:
        self._check_views(inputs)
        im_q, im_k = inputs[0], inputs[1]
        query_images = [im_q]
        if self.neighbour_query:
            query_images.append(inputs[2])
        if self.use_cutmix:
            mixed, lam = cutmix_pair(im_q, inputs[2], self.cutmix_alpha)
            query_images.append(mixed)
        query_sets = self._project_sets(query_images)
        q = query_sets[0]
        q_nb = query_sets[1] if self.neighbour_query else None
        q_mix = query_sets[-1] if self.use_cutmix else None
        with torch.no_grad():
            self.encoder_k.update_parameters(nn.Sequential(self.backbone, self.neck))
            key_sets = self._keys_sets([im_k, inputs[3]] if self.use_neighbour else [im_k])
        k = key_sets[0]
        k_nb = key_sets[1] if self.use_neighbour else None
        w_s, w_c = self.current_cross_weights()
        losses: Dict[str, torch.Tensor] = {}
        for level in range(self.num_levels):
            queue = self.queue[level].clone().detach()
            if self.use_neighbour:
                terms = [self._term(q[level], [k[level], k_nb[level]], [w_s, w_c], queue)]
                if self.neighbour_query:
                    terms.append(
                        self._term(q_nb[level], [k_nb[level], k[level]], [w_s, w_c], queue)
                    )
            else:
                terms = [self._term(q[level], [k[level]], [1.0], queue)]
            if self.use_cutmix:
                terms.append(
                    self._term(q_mix[level], [k[level], k_nb[level]], [lam, 1.0 - lam], queue)
                )
            name = 'loss' if self.num_levels == 1 else f'loss_level{level}'
            losses[name] = self.level_weights[level] * torch.stack(terms).mean()
        with torch.no_grad():
            top = q[-1] @ self.queue[-1]
            acc = ((q[-1] * k[-1]).sum(1, keepdim=True) > top).all(dim=1).float().mean() * 100
        losses['acc_inst'] = acc
        if self.use_cutmix:
            losses['cutmix_lam'] = torch.tensor(lam)
        self._dequeue_and_enqueue(k)
        return losses
