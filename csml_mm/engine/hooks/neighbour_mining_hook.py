"""Mine each training image's nearest neighbours with the momentum encoder."""
import time
from typing import Optional, Union

import torch
import torch.nn.functional as F
from mmengine.dist import is_distributed
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS
from mmpretrain.utils import get_ori_model

from csml_mm.datasets.neighbour_views import find_neighbour_dataset
from csml_mm.engine.hooks.mid_epoch_resume_hook import batches_to_skip
from csml_mm.evaluation.features import (_all_gather_varlen, extract_features,
                                        extract_features_sharded)
from csml_mm.models.utils.neighbour_search import knn_search
from csml_mm.utils.topk_search import DEFAULT_MEMORY_BUDGET, parse_bytes, sharded_exact_topk


@HOOKS.register_module()
class NeighbourMiningHook(Hook):
    """Fill ``NeighbourViewsDataset``'s neighbour table (CsMl's "seed" images).

    Every ``interval`` epochs (at the start of epochs 0, interval, 2*interval, ...),
    and at the start of the model's ``cross_warmup_epochs`` (the first epoch whose
    loss uses the neighbours, so its table comes from the network trained so far;
    ``remine_at_cross_warmup``), the hook extracts, over the whole training set and with a deterministic
    pipeline (``dataloader``: resize + centre crop, no augmentation), the momentum
    encoder's backbone features (last stage, global-average-pooled, before the
    projection, L2-normalised), with the encoder in eval mode (BN running
    statistics). It then finds each image's K nearest neighbours by cosine
    similarity, excluding the image itself by index (duplicates elsewhere still
    count), and hands the table to the dataset. The search is the package's exact
    top-k search (:mod:`csml_mm.utils.topk_search`), chunked to stay within
    ``memory_budget`` bytes of device memory (default 4 GiB), on the GPU when there is
    one, with the device copy of the bank in fp16 there and exact fp32 re-ranking;
    ``backend='faiss'`` (one process) uses faiss where installed.

    Under DDP every rank extracts its shard and keeps only that (the sampler's
    padding is de-duplicated by index), so host memory holds the features once per
    machine, not once per rank; the search is sharded the same way (each rank ranks
    every query block against its shard, the per-shard top-k lists are merged: still
    exact), and only the ``[N, K]`` table is gathered to every rank. The table is
    stored in checkpoints (``neighbour_table``) and restored on resume; a checkpoint
    without one triggers mining at resume. Resumed from a checkpoint written mid-epoch
    (``MidEpochResumeHook``), the rest of that epoch uses the restored table.

    Args:
        dataloader: Loader config over the same images as the training set, in
            the same order, with a deterministic pipeline.
        interval: Mine every ``interval`` epochs (the code: 5).
        chunk_size: Upper bound on the query rows per block of the search.
        backend: ``'torch'`` or ``'faiss'``.
        memory_budget: Device bytes for one search (int or e.g. ``'4GiB'``); the
            chunk sizes follow from it (``csml_mm.utils.topk_search.plan_search``).
        storage_dtype: ``'auto'`` (fp16 bank on CUDA, re-ranked in fp32), ``'fp32'``.
        remine_at_cross_warmup: Also mine at the start of epoch
            ``model.cross_warmup_epochs`` when that is not a multiple of ``interval``.

    Before the first mining of a run that has not trained yet (the key encoder's
    EMA step count is 0), the key encoder is copied from the online encoder, so
    even the epoch-0 table comes from the network being trained.
    """
    priority = 'NORMAL'

    def __init__(self, dataloader: dict, interval: int = 5, chunk_size: int = 4096,
                 backend: str = 'torch', remine_at_cross_warmup: bool = True,
                 memory_budget: Union[int, str] = DEFAULT_MEMORY_BUDGET,
                 storage_dtype: str = 'auto') -> None:
        if interval < 1:
            raise ValueError('NeighbourMiningHook: interval must be >= 1.')
        self.dataloader_cfg = dataloader
        self.interval = interval
        self.chunk_size = chunk_size
        self.backend = backend
        self.remine_at_cross_warmup = remine_at_cross_warmup
        parse_bytes(memory_budget)  # a typo fails here, not at the first mining
        self.memory_budget = memory_budget
        self.storage_dtype = storage_dtype
        self._loader = None
        self._restored: Optional[torch.Tensor] = None
        self.last_stats: dict = {}

    def _dataset(self, runner):
        ds = find_neighbour_dataset(runner.train_dataloader.dataset)
        if ds is None:
            raise TypeError('NeighbourMiningHook needs train_dataloader.dataset to be (or wrap) '
                            'a NeighbourViewsDataset.')
        return ds

    def before_train(self, runner) -> None:
        ds = self._dataset(runner)
        self._loader = runner.build_dataloader(self.dataloader_cfg, seed=runner.seed)
        if len(self._loader.dataset) != len(ds):
            raise ValueError(
                f'NeighbourMiningHook: its dataloader has {len(self._loader.dataset)} images, '
                f'the training set {len(ds)}; both must cover the same images in the same order.')
        if self._restored is not None:
            ds.set_neighbours(self._restored)
            self._restored = None
        queue_len = getattr(get_ori_model(runner.model), 'queue_len', None)
        if queue_len is not None and queue_len >= len(ds) // 2:
            runner.logger.warning(
                f'queue_len={queue_len} is at least half the training set ({len(ds)} images): '
                'the queue then holds earlier keys of the anchors themselves (and of their '
                'neighbours) as negatives, which works against learning. Use a queue well '
                'below the dataset size (MoCo: 4096 of 50,000 on CIFAR-10); set '
                'model.queue_len to a multiple of the global batch.')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if 'neighbour_table' in checkpoint:
            self._restored = checkpoint['neighbour_table']

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        ds = find_neighbour_dataset(runner.train_dataloader.dataset)
        if ds is not None and ds.has_neighbours:
            checkpoint['neighbour_table'] = ds.neighbours.clone()

    def mining_due(self, runner) -> bool:
        """Whether the table must be (re-)mined at the start of ``runner.epoch``."""
        if runner.epoch % self.interval == 0:
            return True
        model = get_ori_model(runner.model)
        warmup = getattr(model, 'cross_warmup_epochs', None)
        return (self.remine_at_cross_warmup and getattr(model, 'use_neighbour', False)
                and warmup is not None and runner.epoch == warmup)

    def before_train_epoch(self, runner) -> None:
        ds = self._dataset(runner)
        if ds.has_neighbours and batches_to_skip(runner) > 0:
            return  # resumed mid-epoch: the checkpoint's table is this epoch's table
        if self.mining_due(runner) or not ds.has_neighbours:
            self.mine(runner)

    def _mine_sharded(self, model, feature_fn, ds, device: str, t0: float):
        """Each rank extracts and keeps its shard; the search is sharded
        (:func:`~csml_mm.utils.topk_search.sharded_exact_topk`); only the
        ``[N, K]`` table and the labels are gathered to every rank."""
        ids, feats, labels = extract_features_sharded(model, self._loader, feature_fn=feature_fn,
                                                      require_labels=False,
                                                      desc='neighbour mining')
        t_extract = time.time() - t0
        if self.backend != 'torch':
            raise ValueError("NeighbourMiningHook: backend='faiss' is single-process only; "
                             "use backend='torch' (exact, sharded across ranks) under DDP.")
        _, nbr_ids = sharded_exact_topk(feats, ids, ds.num_neighbours,
                                        memory_budget=self.memory_budget, device=device,
                                        storage_dtype=self.storage_dtype,
                                        max_query_chunk=self.chunk_size)
        del feats
        table = torch.empty(len(ds), ds.num_neighbours, dtype=torch.long)
        all_labels = torch.empty(len(ds), dtype=torch.long)
        for part_ids, part_nbrs, part_labels in zip(_all_gather_varlen(ids),
                                                    _all_gather_varlen(nbr_ids),
                                                    _all_gather_varlen(labels)):
            table[part_ids] = part_nbrs
            all_labels[part_ids] = part_labels
        return table, all_labels, t_extract

    @torch.no_grad()
    def mine(self, runner) -> torch.Tensor:
        ds = self._dataset(runner)
        model = get_ori_model(runner.model)
        if int(model.encoder_k.steps) == 0 and hasattr(model, 'sync_momentum_encoder'):
            model.sync_momentum_encoder()  # not trained yet: mine with the online weights
        backbone_k = model.encoder_k.module[0]
        t0 = time.time()

        def momentum_features(_model, inputs: torch.Tensor) -> torch.Tensor:
            feat = backbone_k(inputs)[-1]
            if feat.dim() == 4:
                feat = feat.mean(dim=(2, 3))
            return F.normalize(feat.float(), dim=1)

        # extraction puts the whole model (momentum encoder included) in eval mode and
        # restores every module's mode afterwards.
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
        if is_distributed():
            table, labels, t_extract = self._mine_sharded(model, momentum_features, ds, device,
                                                          t0)
        else:
            feats, labels = extract_features(model, self._loader, feature_fn=momentum_features,
                                             require_labels=False, desc='neighbour mining')
            t_extract = time.time() - t0
            table = knn_search(feats, ds.num_neighbours, chunk_size=self.chunk_size,
                               device=device, backend=self.backend,
                               memory_budget=self.memory_budget,
                               storage_dtype=self.storage_dtype)
            del feats
        ds.set_neighbours(table)
        stats = dict(time_extract=t_extract, time_total=time.time() - t0)
        if labels is not None and (labels >= 0).all():
            stats['purity'] = float((labels[table] == labels.unsqueeze(1)).float().mean() * 100)
        self.last_stats = stats
        for key, val in stats.items():
            runner.message_hub.update_scalar(f'mining/{key}', val)
        runner.logger.info(
            f'NeighbourMiningHook: mined {ds.num_neighbours} neighbours for {len(ds)} images in '
            f'{stats["time_total"]:.1f}s (extraction {t_extract:.1f}s)'
            + (f', label purity {stats["purity"]:.1f}%' if 'purity' in stats else ''))
        return table
