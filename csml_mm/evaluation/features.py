# Copyright (c) csml_mm contributors. All rights reserved.
"""Feature extraction from self-supervised models for kNN evaluation."""

import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_gather, get_world_size
from mmengine.model import is_model_wrapper
from torch import Tensor

from csml_mm.models.utils.gather import all_gather_varlen

__all__ = ['extract_features', 'extract_features_sharded', 'backbone_last_stage_features']

#: Rows per collective call when gathering features across ranks; bounds the
#: temporary communication buffer to ``world_size * block * dim`` elements.
_GATHER_BLOCK_ROWS = 65536


def backbone_last_stage_features(model: nn.Module, inputs: Tensor) -> Tensor:
    """Default feature function: the last backbone output, globally pooled.

    Args:
        model (nn.Module): An (unwrapped) model with a ``backbone`` attribute,
            e.g. a :class:`mmpretrain.models.BaseSelfSupervisor`.
        inputs (Tensor): A pre-processed image batch ``[B, C, H, W]``.

    Returns:
        Tensor: ``[B, D]`` features (not yet normalised). A 4-D output
        ``[B, D, H, W]`` is averaged over ``H`` and ``W``.
    """
    if not hasattr(model, 'backbone'):
        raise AttributeError(
            f'{type(model).__name__} has no `backbone`; pass a feature_fn to extract_features.'
        )
    outs = model.backbone(inputs)
    if isinstance(outs, (list, tuple)):
        outs = outs[-1]
    if isinstance(outs, (list, tuple)):
        # Some backbones return (patch_tokens, cls_token) per stage.
        outs = outs[-1]
    if outs.dim() == 4:
        outs = outs.mean(dim=(2, 3))
    if outs.dim() != 2:
        raise ValueError(
            'Expected the last backbone output to be [B, D] or [B, D, H, W], '
            f'got shape {tuple(outs.shape)}; pass a feature_fn to '
            'extract_features.'
        )
    return outs


def _stack_single_images(batch: dict) -> dict:
    """Stack a pseudo-collated list of ``[C, H, W]`` images into a tensor.

    :class:`SelfSupDataPreprocessor` treats a list of tensors as a list of
    views of a batch, so a list of single images (what ``pseudo_collate``
    produces) must be stacked before pre-processing. Batches from
    ``default_collate`` are returned unchanged.
    """
    inputs = batch.get('inputs') if isinstance(batch, dict) else None
    if (
        isinstance(inputs, (list, tuple))
        and len(inputs) > 0
        and all(isinstance(t, Tensor) and t.dim() == 3 for t in inputs)
        and len({tuple(t.shape) for t in inputs}) == 1
    ):
        batch = dict(batch)  # keeps key order: inputs, data_samples
        batch['inputs'] = torch.stack(list(inputs))
    return batch


def _sample_label(data_sample) -> int:
    """Return the single-label ``gt_label`` of a data sample as an int."""
    gt_label = getattr(data_sample, 'gt_label', None)
    if gt_label is None:
        raise ValueError(
            'A data sample has no `gt_label`; kNN evaluation needs a '
            'labelled dataset (e.g. ImageNet with ann_file) and a pipeline '
            'that ends with PackInputs.'
        )
    gt_label = torch.as_tensor(gt_label)
    if gt_label.numel() != 1:
        raise ValueError(
            f'kNN evaluation supports single-label data only, got gt_label={gt_label.tolist()}.'
        )
    return int(gt_label.reshape(-1)[0])


def _gather_from_ranks(idx: Tensor, feats: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """All-gather the ``(sample_idx, feat, label)`` rows of every rank.

    Shards may have different lengths; they are padded to the longest one,
    gathered in blocks of rows and trimmed again. The result holds the rows
    of rank 0, then rank 1, ... on CPU.
    """
    n = feats.shape[0]
    meta = torch.tensor([n, feats.shape[1] if n > 0 else -1], dtype=torch.long)
    metas = [m.tolist() for m in all_gather(meta)]
    sizes = [m[0] for m in metas]
    dims = {m[1] for m in metas if m[0] > 0}
    if len(dims) > 1:
        raise RuntimeError(f'Ranks extracted features of different dimensions: {sorted(dims)}.')
    dim = dims.pop() if dims else 0
    max_n = max(sizes)
    if max_n == 0:
        return idx, feats.new_zeros((0, dim)), labels
    if feats.shape[0] == 0:
        feats = feats.new_zeros((0, dim))

    def pad(t: Tensor) -> Tensor:
        extra = max_n - t.shape[0]
        if extra == 0:
            return t
        return torch.cat([t, t.new_zeros((extra,) + tuple(t.shape[1:]))])

    idx, feats, labels = pad(idx), pad(feats), pad(labels)
    idx_parts: List[List[Tensor]] = [[] for _ in sizes]
    feat_parts: List[List[Tensor]] = [[] for _ in sizes]
    label_parts: List[List[Tensor]] = [[] for _ in sizes]
    for start in range(0, max_n, _GATHER_BLOCK_ROWS):
        end = min(start + _GATHER_BLOCK_ROWS, max_n)
        for parts, t in ((idx_parts, idx), (feat_parts, feats), (label_parts, labels)):
            for rank, block in enumerate(all_gather(t[start:end].contiguous())):
                parts[rank].append(block.cpu())

    def join(parts: List[List[Tensor]]) -> Tensor:
        return torch.cat([torch.cat(p)[:size] for p, size in zip(parts, sizes)])

    return join(idx_parts), join(feat_parts), join(label_parts)


def _merge_shards(
    idx: Tensor, feats: Tensor, labels: Tensor, num_samples: Optional[int]
) -> Tuple[Tensor, Tensor]:
    """Sort rows by sample index, drop duplicates and check completeness.

    Duplicates come from the padding of distributed samplers (the same
    sample extracted on two ranks); the first occurrence is kept.

    Args:
        idx (Tensor): ``[R]`` sample indices (any order, duplicates allowed).
        feats (Tensor): ``[R, D]`` features.
        labels (Tensor): ``[R]`` labels.
        num_samples (int, optional): Expected number of distinct samples
            (``len(dataset)``); the indices must then be exactly
            ``0 .. num_samples - 1``. ``None`` skips the check.

    Returns:
        tuple[Tensor, Tensor]: Features ``[N, D]`` and labels ``[N]`` in
        dataset order.
    """
    order = torch.sort(idx, stable=True).indices
    idx, feats, labels = idx[order], feats[order], labels[order]
    keep = torch.ones_like(idx, dtype=torch.bool)
    keep[1:] = idx[1:] != idx[:-1]
    idx, feats, labels = idx[keep], feats[keep], labels[keep]
    if num_samples is not None:
        if idx.numel() != num_samples or (
            num_samples > 0 and (int(idx[0]) != 0 or int(idx[-1]) != num_samples - 1)
        ):
            missing = num_samples - idx.numel()
            raise RuntimeError(
                f'Feature extraction produced {idx.numel()} distinct samples '
                f'(sample_idx range [{int(idx.min()) if idx.numel() else "-"}'
                f', {int(idx.max()) if idx.numel() else "-"}]) but the '
                f'dataset has {num_samples} ({missing} missing). Use a '
                'DefaultSampler without drop_last for kNN dataloaders and '
                'keep `sample_idx` in the PackInputs meta_keys.'
            )
    return feats, labels


def _set_modes(model: nn.Module, modes: Dict[nn.Module, bool]) -> None:
    for module in model.modules():
        if module in modes:
            module.training = modes[module]


#: seconds between two progress lines of a feature extraction
PROGRESS_EVERY = 10.0


class _Progress:
    """A line at most every :data:`PROGRESS_EVERY` seconds on rank 0: images done (this
    rank's share of the total), rate and time left; nothing for a pass shorter than that."""

    def __init__(self, desc: str, total: Optional[int]) -> None:
        import time

        from mmengine.dist import get_rank

        self.desc, self.total, self.done = desc, total, 0
        self.quiet = get_rank() != 0
        self.start = self.last = time.time()

    def update(self, n: int) -> None:
        import time

        self.done += n
        now = time.time()
        if self.quiet or now - self.last < PROGRESS_EVERY:
            return
        self.last = now
        rate = self.done / max(now - self.start, 1e-9)
        total = f'/{self.total}' if self.total else ''
        left = (
            f', {max(self.total - self.done, 0) / rate:.0f} s left'
            if self.total and rate > 0
            else ''
        )
        from mmengine.logging import print_log

        print_log(
            f'[{self.desc}] {self.done}{total} images, {rate:.0f} images/s{left}', logger='current'
        )


@torch.no_grad()
def _extract_local(
    model: nn.Module,
    dataloader: Sequence,
    feature_fn: Optional[Callable[[nn.Module, Tensor], Tensor]],
    require_labels: bool,
    desc: str = 'features',
) -> Tuple[Tensor, Tensor, Tensor, int, Optional[int]]:
    """This rank's ``(sample_idx, feats, labels)`` rows, the number of samples without a
    ``sample_idx`` and ``len(dataset)`` (see :func:`extract_features`)."""
    if is_model_wrapper(model):
        model = model.module
    if feature_fn is None:
        feature_fn = backbone_last_stage_features
    world_size = get_world_size()
    dataset = getattr(dataloader, 'dataset', None)
    try:
        num_samples: Optional[int] = len(dataset)  # type: ignore[arg-type]
    except TypeError:
        num_samples = None

    modes = {m: m.training for m in model.modules()}
    model.eval()
    progress = _Progress(desc, None if num_samples is None else -(-num_samples // world_size))
    idx_list: List[int] = []
    missing_idx = 0
    feat_chunks: List[Tensor] = []
    label_list: List[int] = []
    try:
        for batch in dataloader:
            data = model.data_preprocessor(_stack_single_images(batch), False)
            inputs = data['inputs']
            if isinstance(inputs, (list, tuple)):
                inputs = inputs[0]
            feats = feature_fn(model, inputs)
            feats = F.normalize(feats.float(), dim=1)
            data_samples = data['data_samples']
            if data_samples is None or len(data_samples) != feats.shape[0]:
                raise ValueError(
                    'Each batch must carry one data sample (with gt_label) '
                    f'per image; got {feats.shape[0]} images and '
                    f'{0 if data_samples is None else len(data_samples)} '
                    'data samples.'
                )
            for sample in data_samples:
                if not require_labels and getattr(sample, 'gt_label', None) is None:
                    label_list.append(-1)
                else:
                    label_list.append(_sample_label(sample))
                sample_idx = sample.metainfo.get('sample_idx', None)
                if sample_idx is None:
                    missing_idx += 1
                    sample_idx = len(idx_list)
                idx_list.append(int(sample_idx))
            feat_chunks.append(feats.cpu())
            progress.update(feats.shape[0])
    finally:
        _set_modes(model, modes)

    if missing_idx:
        if world_size > 1:
            raise ValueError(
                f'{missing_idx} data samples have no `sample_idx` meta field,'
                ' which is needed to merge distributed shards; keep '
                "'sample_idx' in PackInputs(meta_keys=...)."
            )
        warnings.warn(
            f'{missing_idx} data samples have no `sample_idx`; features are '
            'returned in dataloader order.',
            stacklevel=2,
        )

    dim = feat_chunks[0].shape[1] if feat_chunks else 0
    feats = torch.cat(feat_chunks) if feat_chunks else torch.zeros((0, dim), dtype=torch.float32)
    idx = torch.tensor(idx_list, dtype=torch.long)
    labels = torch.tensor(label_list, dtype=torch.long)

    return idx, feats, labels, missing_idx, num_samples


@torch.no_grad()
def extract_features(
    model: nn.Module,
    dataloader: Sequence,
    feature_fn: Optional[Callable[[nn.Module, Tensor], Tensor]] = None,
    require_labels: bool = True,
    desc: str = 'features',
) -> Tuple[Tensor, Tensor]:
    """Extract L2-normalised features and labels of a whole dataset.

    For each batch the model's data pre-processor is applied
    (``model.data_preprocessor(batch, False)``) and ``feature_fn(model,
    inputs)`` gives the features; by default
    :func:`backbone_last_stage_features`, i.e. the last backbone output
    globally average-pooled. Features are always L2-normalised afterwards.
    Multi-view inputs use the first view only.

    The model runs in eval mode under ``torch.no_grad()``; the train/eval
    flag of every submodule is restored afterwards. A model wrapper (e.g.
    DDP) is unwrapped first.

    Rows are returned in dataset order using the ``sample_idx`` meta field of
    each data sample (set by mmengine's ``BaseDataset`` and kept by
    ``PackInputs``). In a distributed run each rank extracts its shard and
    all shards are gathered to every rank, de-duplicated (sampler padding)
    and checked to cover the dataset exactly.

    Args:
        model (nn.Module): The model, e.g. a ``BaseSelfSupervisor``, possibly
            wrapped.
        dataloader (Iterable): Dataloader yielding ``dict(inputs=...,
            data_samples=...)`` batches with ``gt_label`` in every sample.
        feature_fn (Callable, optional): ``feature_fn(model, inputs) ->
            Tensor[B, D]`` called with the unwrapped model and the
            pre-processed inputs. Defaults to
            :func:`backbone_last_stage_features`.
        require_labels (bool): If False, samples without ``gt_label`` get
            label -1 instead of raising (neighbour mining on unlabelled data).
        desc (str): Name of the pass in its progress lines (one at most every
            :data:`PROGRESS_EVERY` seconds: images done, rate, time left).

    Returns:
        tuple[Tensor, Tensor]: ``feats`` of shape ``[N, D]`` (float32, CPU)
        and ``labels`` of shape ``[N]`` (long, CPU).
    """
    world_size = get_world_size()
    idx, feats, labels, missing_idx, num_samples = _extract_local(
        model, dataloader, feature_fn, require_labels, desc
    )
    if world_size > 1:
        idx, feats, labels = _gather_from_ranks(idx, feats, labels)
    elif missing_idx:
        if num_samples is not None and feats.shape[0] != num_samples:
            raise RuntimeError(
                f'Extracted {feats.shape[0]} samples but the dataset has {num_samples}.'
            )
        return feats, labels
    feats, labels = _merge_shards(idx, feats, labels, num_samples)
    if feats.shape[0] == 0:
        raise RuntimeError('The dataloader yielded no samples.')
    return feats, labels


@torch.no_grad()
def extract_features_sharded(
    model: nn.Module,
    dataloader: Sequence,
    feature_fn: Optional[Callable[[nn.Module, Tensor], Tensor]] = None,
    require_labels: bool = True,
    desc: str = 'features',
) -> Tuple[Tensor, Tensor, Tensor]:
    """Like :func:`extract_features`, but every rank keeps only its own shard.

    Nothing but the sample indices is exchanged: the rows that the distributed
    sampler gave to several ranks (its padding) are kept by the lowest such rank
    only, so the shards are disjoint and together cover the dataset exactly
    (checked). Host memory per rank is its shard, i.e. the features once per
    machine instead of once per rank.

    Returns:
        tuple[Tensor, Tensor, Tensor]: This rank's ``sample_idx`` ``[n]`` (sorted),
        features ``[n, D]`` and labels ``[n]``, on the CPU. With one process, the
        whole dataset.
    """
    if get_world_size() == 1:
        feats, labels = extract_features(model, dataloader, feature_fn, require_labels, desc)
        return torch.arange(feats.shape[0]), feats, labels
    idx, feats, labels, missing_idx, num_samples = _extract_local(
        model, dataloader, feature_fn, require_labels, desc
    )
    order = torch.sort(idx, stable=True).indices
    idx, feats, labels = idx[order], feats[order], labels[order]
    first = torch.ones_like(idx, dtype=torch.bool)
    first[1:] = idx[1:] != idx[:-1]
    idx, feats, labels = idx[first], feats[first], labels[first]
    all_ids = all_gather_varlen(idx)
    total = (
        num_samples
        if num_samples is not None
        else int(max((int(t.max()) + 1 for t in all_ids if t.numel()), default=0))
    )
    owner = torch.full((total,), len(all_ids), dtype=torch.long)
    for rank in reversed(range(len(all_ids))):
        owner[all_ids[rank]] = rank
    if bool((owner == len(all_ids)).any()):
        missing = int((owner == len(all_ids)).sum())
        raise RuntimeError(
            f'Feature extraction missed {missing} of {total} samples across the ranks. '
            'Use a DefaultSampler without drop_last and keep `sample_idx` in the '
            'PackInputs meta_keys.'
        )
    from mmengine.dist import get_rank

    keep = owner[idx] == get_rank()
    return idx[keep], feats[keep], labels[keep]
