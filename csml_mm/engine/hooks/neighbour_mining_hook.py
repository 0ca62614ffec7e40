"""Mine each training image's nearest neighbours with the momentum encoder."""

import time
from typing import Optional, Protocol, Union

import torch
import torch.nn as nn
from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS
from mmpretrain.utils import get_ori_model

from csml_mm.datasets.neighbour_views import find_neighbour_dataset
from csml_mm.engine.hooks.mid_epoch_resume_hook import batches_to_skip
from csml_mm.evaluation.features import extract_features_sharded
from csml_mm.models.utils.gather import all_gather_varlen
from csml_mm.utils.topk_search import DEFAULT_MEMORY_BUDGET, parse_bytes, topk_neighbours


class MiningModel(Protocol):
    """What :class:`NeighbourMiningHook` needs of the (unwrapped) model; it reads nothing else.

    The model is an ``nn.Module`` with a ``data_preprocessor`` (the extraction puts it in
    eval mode, pre-processes each batch and restores every module's mode afterwards)
    and these methods (:class:`~csml_mm.models.algorithms.CsMl` implements them).
    """

    def wants_mining(self, epoch: int) -> bool:
        """Whether the model asks for fresh neighbours at the start of ``epoch`` (besides
        the hook's interval; CsMl: its first cross-sample epoch)."""

    def prepare_mining(self) -> None:
        """Called before each mining, on every rank (CsMl: before the first training step,
        copy the online encoder into the momentum encoder)."""

    def mining_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """``[B, D]`` features of a pre-processed image batch to rank neighbours by
        (L2-normalised; called under ``no_grad`` in eval mode)."""

    def training_set_warning(self, num_images: int) -> Optional[str]:
        """A warning to log about this model on ``num_images`` training images, or ``None``."""


_MINING_METHODS = ('wants_mining', 'prepare_mining', 'mining_features', 'training_set_warning')


def mining_model(runner) -> nn.Module:
    """The unwrapped model of ``runner``, checked to implement :class:`MiningModel`.

    Raises:
        TypeError: a method of the interface is missing.
    """
    model = get_ori_model(runner.model)
    missing = [m for m in _MINING_METHODS if not callable(getattr(model, m, None))]
    if missing:
        raise TypeError(
            f'NeighbourMiningHook: {type(model).__name__} lacks {missing}, the '
            'mining interface (csml_mm.engine.hooks.neighbour_mining_hook.'
            'MiningModel) that CsMl implements.'
        )
    return model


@HOOKS.register_module()
class NeighbourMiningHook(Hook):
    """Fill ``NeighbourViewsDataset``'s neighbour table (CsMl's "seed" images).

    Every ``interval`` epochs (at the start of epochs 0, interval, 2*interval, ...),
    and at the start of the epochs the model asks for (``model.wants_mining(epoch)``;
    CsMl: its ``cross_warmup_epochs``, the first epoch whose loss uses the neighbours,
    so its table comes from the network trained so far; ``remine_at_cross_warmup``),
    the hook extracts, over the whole training set and with a deterministic pipeline
    (``dataloader``: resize + centre crop, no augmentation), the model's mining
    features (``model.mining_features``; CsMl: the momentum encoder's backbone
    features, last stage, global-average-pooled, before the projection,
    L2-normalised), with the model in eval mode (BN running statistics). It then finds
    each image's K nearest neighbours by cosine similarity, excluding the image itself
    by index (duplicates elsewhere still count), and hands the table to the dataset.
    The search is the package's exact top-k search
    (:func:`csml_mm.utils.topk_search.topk_neighbours`), chunked to stay within
    ``memory_budget`` bytes of device memory (default 4 GiB), on the GPU when there is
    one, with the device copy of the bank in fp16 there and exact fp32 re-ranking;
    ``backend='faiss'`` (one process) uses faiss where installed.

    The hook uses only the model's mining interface (:class:`MiningModel`:
    ``wants_mining``, ``prepare_mining``, ``mining_features``, ``training_set_warning``)
    and its ``data_preprocessor``.

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
        backend: ``'torch'`` or ``'faiss'`` (one process only).
        remine_at_cross_warmup: Also mine at the start of the epochs the model asks for
            (``model.wants_mining``; CsMl: epoch ``cross_warmup_epochs``) when they are
            not multiples of ``interval``.
        memory_budget: Device bytes for one search (int or e.g. ``'4GiB'``), parsed
            here (a typo fails at construction); the chunk sizes follow from it
            (``csml_mm.utils.topk_search.plan_search``).
        storage_dtype: ``'auto'`` (fp16 bank on CUDA, re-ranked in fp32), ``'fp32'``.

    Before every mining the hook calls ``model.prepare_mining()`` (CsMl: before the
    first training step the key encoder is copied from the online encoder, so even the
    epoch-0 table comes from the network being trained).
    """

    priority = 'NORMAL'

    def __init__(
        self,
        dataloader: dict,
        interval: int = 5,
        chunk_size: int = 4096,
        backend: str = 'torch',
        remine_at_cross_warmup: bool = True,
        memory_budget: Union[int, str] = DEFAULT_MEMORY_BUDGET,
        storage_dtype: str = 'auto',
    ) -> None:
        if interval < 1:
            raise ValueError('NeighbourMiningHook: interval must be >= 1.')
        if backend not in ('torch', 'faiss'):
            raise ValueError(
                f"NeighbourMiningHook: backend must be 'torch' or 'faiss', got {backend!r}."
            )
        self.dataloader_cfg = dataloader
        self.interval = interval
        self.chunk_size = chunk_size
        self.backend = backend
        self.remine_at_cross_warmup = remine_at_cross_warmup
        self.memory_budget: int = parse_bytes(memory_budget)
        self.storage_dtype = storage_dtype
        self._loader = None
        self._restored: Optional[torch.Tensor] = None
        self.last_stats: dict = {}

    def _dataset(self, runner):
        ds = find_neighbour_dataset(runner.train_dataloader.dataset)
        if ds is None:
            raise TypeError(
                'NeighbourMiningHook needs train_dataloader.dataset to be (or wrap) '
                'a NeighbourViewsDataset.'
            )
        return ds

    def before_train(self, runner) -> None:
        ds = self._dataset(runner)
        model = mining_model(runner)
        if self.backend != 'torch' and get_world_size() > 1:
            raise ValueError(
                "NeighbourMiningHook: backend='faiss' is single-process only; "
                "use backend='torch' (exact, sharded across ranks) under DDP."
            )
        self._loader = runner.build_dataloader(self.dataloader_cfg, seed=runner.seed)
        if len(self._loader.dataset) != len(ds):
            raise ValueError(
                f'NeighbourMiningHook: its dataloader has {len(self._loader.dataset)} images, '
                f'the training set {len(ds)}; both must cover the same images in the same order.'
            )
        if self._restored is not None:
            ds.set_neighbours(self._restored)
            self._restored = None
        warning = model.training_set_warning(len(ds))
        if warning:
            runner.logger.warning(warning)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if 'neighbour_table' in checkpoint:
            self._restored = checkpoint['neighbour_table']

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        ds = find_neighbour_dataset(runner.train_dataloader.dataset)
        if ds is not None and ds.has_neighbours:
            checkpoint['neighbour_table'] = ds.neighbours.clone()

    def mining_due(self, runner) -> bool:
        """Whether the table must be (re-)mined at the start of ``runner.epoch``.

        Args:
            runner: The runner (its ``epoch`` and ``model`` are read).

        Returns:
            ``True`` every ``interval`` epochs, and (``remine_at_cross_warmup``) at the
            epochs the model asks for (``model.wants_mining``).
        """
        if runner.epoch % self.interval == 0:
            return True
        return bool(self.remine_at_cross_warmup and mining_model(runner).wants_mining(runner.epoch))

    def before_train_epoch(self, runner) -> None:
        ds = self._dataset(runner)
        if ds.has_neighbours and batches_to_skip(runner) > 0:
            return  # resumed mid-epoch: the checkpoint's table is this epoch's table
        if self.mining_due(runner) or not ds.has_neighbours:
            self.mine(runner)

    @torch.no_grad()
    def mine(self, runner) -> torch.Tensor:
        """Extract the mining features, search the neighbours and set the dataset's table.

        One path for one process and for DDP: each rank extracts and keeps its shard
        (with one process, the whole dataset), the search is
        :func:`~csml_mm.utils.topk_search.topk_neighbours` over the (sharded) bank, and
        only the ``[N, K]`` table and the labels are gathered to every rank.

        Args:
            runner: The runner (its model, training set, message hub and logger).

        Returns:
            The ``[N, K]`` neighbour table (long, CPU), also given to the dataset.
        """
        ds = self._dataset(runner)
        model = mining_model(runner)
        model.prepare_mining()
        t0 = time.time()
        # extraction puts the whole model in eval mode and restores every module's mode
        ids, feats, labels = extract_features_sharded(
            model,
            self._loader,
            feature_fn=lambda m, x: m.mining_features(x),
            require_labels=False,
            desc='neighbour mining',
        )
        t_extract = time.time() - t0
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
        _, nbr_ids = topk_neighbours(
            feats,
            ds.num_neighbours,
            ids=ids,
            sharded=True,
            memory_budget=self.memory_budget,
            device=device,
            storage_dtype=self.storage_dtype,
            max_query_chunk=self.chunk_size,
            backend=self.backend,
        )
        del feats
        table = torch.empty(len(ds), ds.num_neighbours, dtype=torch.long)
        all_labels = torch.empty(len(ds), dtype=torch.long)
        for part_ids, part_nbrs, part_labels in zip(
            all_gather_varlen(ids), all_gather_varlen(nbr_ids), all_gather_varlen(labels)
        ):
            table[part_ids] = part_nbrs
            all_labels[part_ids] = part_labels
        ds.set_neighbours(table)
        stats = dict(time_extract=t_extract, time_total=time.time() - t0)
        if (all_labels >= 0).all():
            purity = (all_labels[table] == all_labels.unsqueeze(1)).float().mean() * 100
            stats['purity'] = float(purity)
        self.last_stats = stats
        for key, val in stats.items():
            runner.message_hub.update_scalar(f'mining/{key}', val)
        runner.logger.info(
            f'NeighbourMiningHook: mined {ds.num_neighbours} neighbours for {len(ds)} images in '
            f'{stats["time_total"]:.1f}s (extraction {t_extract:.1f}s)'
            + (f', label purity {stats["purity"]:.1f}%' if 'purity' in stats else '')
        )
        return table
