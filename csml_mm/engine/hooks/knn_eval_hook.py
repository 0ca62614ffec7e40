# Copyright (c) csml_mm contributors. All rights reserved.
"""Periodic weighted-kNN evaluation of the online backbone during training."""

import copy
import time
from typing import Dict, Optional, Sequence, Union

import torch
from mmengine.dist import broadcast_object_list, get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from csml_mm.evaluation import extract_features, knn_accuracy

DATA_BATCH = Optional[Union[dict, tuple, list]]


def check_same_classes(bank_dataset, query_dataset) -> None:
    """Raise a ``ValueError`` when the kNN bank and queries list different classes.

    Labels are indices into each dataset's own ``metainfo['classes']`` (for an image folder:
    its sorted class sub-folders), so a class folder missing from one split would shift the
    labels of the other without any error. Datasets without class names are not checked.
    """
    bank = tuple(getattr(bank_dataset, 'metainfo', {}).get('classes') or ())
    query = tuple(getattr(query_dataset, 'metainfo', {}).get('classes') or ())
    if bank and query and bank != query:
        only_bank = sorted(set(bank) - set(query))[:10]
        only_query = sorted(set(query) - set(bank))[:10]
        raise ValueError(
            f'The kNN bank and query datasets list different classes ({len(bank)} and '
            f'{len(query)}; only in the bank: {only_bank}, only in the queries: {only_query}, '
            'or the same names in another order). Their labels are indices into these lists, '
            'so they would not match: give both splits the same class folders.'
        )


@HOOKS.register_module()
class KNNEvalHook(Hook):
    """Evaluate the online encoder with a weighted kNN classifier.

    Every ``interval`` epochs (and after the last epoch) the features of a
    labelled train split and a val split are extracted with
    :func:`csml_mm.evaluation.extract_features` (last backbone stage,
    globally pooled, L2-normalised) and classified with
    :func:`csml_mm.evaluation.knn_accuracy` (Wu et al. 2018). The figures
    are logged to the runner's logger, to the visualizer backends as
    ``knn/top1_k{k}`` / ``knn/top5_k{k}`` (``step`` = number of finished
    epochs, 0 for the evaluation before training) and to the message hub.

    Both dataloaders are built lazily with ``runner.build_dataloader`` in
    ``before_train``, so sampler, seeding and distributed sharding are
    mmengine's. Use ``DefaultSampler(shuffle=False)`` and test-time
    transforms. In a distributed run every rank extracts its shard, rank 0
    computes the kNN accuracy and broadcasts it, so :attr:`last_results` is
    the same on all ranks. Only epoch-based training loops are supported.

    Args:
        train_dataloader (dict): Dataloader config of the labelled memory
            bank (e.g. ImageNet train with a test pipeline).
        val_dataloader (dict): Dataloader config of the query set.
        interval (int): Evaluate every ``interval`` epochs. Defaults to 1.
        topk (Sequence[int]): Numbers of neighbours. Defaults to
            ``(10, 20, 100, 200)``.
        temperature (float): Vote temperature ``T``. Defaults to 0.07.
        num_classes (int, optional): Number of classes. Defaults to
            ``len(dataset.metainfo['classes'])`` of the train split.
        before_train (bool): Also evaluate once before the first epoch (e.g.
            to log random-init accuracy). Defaults to False.
        chunk_size (int): Query rows per similarity block. Defaults to 1024.
        device (str, optional): Device for the kNN search. Defaults to the
            device of the model's parameters; pass ``'cpu'`` to keep a
            large memory bank off the GPU.

    Attributes:
        last_results (dict | None): The last ``{'top1_k{k}': ..., ...}``
            dict (percent), or None before the first evaluation.
    """

    priority = 'LOW'

    def __init__(
        self,
        train_dataloader: dict,
        val_dataloader: dict,
        interval: int = 1,
        topk: Sequence[int] = (10, 20, 100, 200),
        temperature: float = 0.07,
        num_classes: Optional[int] = None,
        before_train: bool = False,
        chunk_size: int = 1024,
        device: Optional[str] = None,
    ) -> None:
        if not isinstance(train_dataloader, dict) or not isinstance(val_dataloader, dict):
            raise TypeError('train_dataloader and val_dataloader must be dataloader config dicts.')
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'interval must be a positive int, got {interval!r}.')
        if isinstance(topk, int):
            topk = (topk,)
        if len(topk) == 0:
            raise ValueError('topk must contain at least one k.')
        if not temperature > 0:
            raise ValueError(f'temperature must be > 0, got {temperature}.')
        self.train_dataloader_cfg = copy.deepcopy(train_dataloader)
        self.val_dataloader_cfg = copy.deepcopy(val_dataloader)
        self.interval = interval
        self.topk = tuple(topk)
        self.temperature = float(temperature)
        self.num_classes = num_classes
        # Not `self.before_train`: that name is the hook method.
        self.eval_before_train = before_train
        self.chunk_size = chunk_size
        self.device = device
        self.train_loader = None
        self.val_loader = None
        self.last_results: Optional[Dict[str, float]] = None

    def before_train(self, runner) -> None:
        """Build the dataloaders; optionally evaluate the initial model."""
        seed = getattr(runner, 'seed', None)
        if self.train_loader is None:
            self.train_loader = runner.build_dataloader(self.train_dataloader_cfg, seed=seed)
        if self.val_loader is None:
            self.val_loader = runner.build_dataloader(self.val_dataloader_cfg, seed=seed)
        check_same_classes(self.train_loader.dataset, self.val_loader.dataset)
        if self.num_classes is None:
            classes = getattr(self.train_loader.dataset, 'metainfo', {}).get('classes')
            if not classes:
                raise ValueError(
                    'KNNEvalHook could not read metainfo["classes"] from the '
                    'kNN train dataset; set num_classes explicitly.'
                )
            self.num_classes = len(classes)
        if self.eval_before_train:
            self._evaluate(runner, step=runner.epoch)

    def after_train_epoch(self, runner) -> None:
        """Evaluate every ``interval`` epochs and after the last one."""
        if self.every_n_epochs(runner, self.interval) or self.is_last_train_epoch(runner):
            # runner.epoch is incremented after this hook: +1 gives the
            # number of finished epochs.
            self._evaluate(runner, step=runner.epoch + 1)

    def _knn_device(self, runner) -> torch.device:
        if self.device is not None:
            return torch.device(self.device)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        param = next(model.parameters(), None)
        return param.device if param is not None else torch.device('cpu')

    def _evaluate(self, runner, step: int) -> Dict[str, float]:
        """Extract features on all ranks, run kNN on rank 0 and log."""
        start = time.time()
        train_feats, train_labels = extract_features(
            runner.model, self.train_loader, desc='kNN monitor: bank'
        )
        val_feats, val_labels = extract_features(
            runner.model, self.val_loader, desc='kNN monitor: queries'
        )
        payload = [None]
        if get_rank() == 0:
            device = self._knn_device(runner)
            try:
                payload[0] = knn_accuracy(
                    train_feats.to(device),
                    train_labels,
                    val_feats,
                    val_labels,
                    num_classes=self.num_classes,
                    topk=self.topk,
                    temperature=self.temperature,
                    chunk_size=self.chunk_size,
                )
            except Exception as exc:  # let every rank fail, not hang
                payload[0] = exc
        del train_feats, val_feats
        broadcast_object_list(payload, src=0)
        if isinstance(payload[0], Exception):
            raise payload[0]
        results: Dict[str, float] = payload[0]
        self.last_results = dict(results)

        summary = ', '.join(f'{key}: {val:.2f}' for key, val in results.items())
        runner.logger.info(
            f'kNN eval (epoch {step}, N={len(train_labels)}, '
            f'M={len(val_labels)}, T={self.temperature}, '
            f'{time.time() - start:.1f}s): {summary}'
        )
        scalars = {f'knn/{key}': float(val) for key, val in results.items()}
        runner.visualizer.add_scalars(scalars, step=step)
        for key, val in scalars.items():
            runner.message_hub.update_scalar(key, val)
        return results
