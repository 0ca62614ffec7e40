# Copyright (c) csml_mm contributors. All rights reserved.
"""Weighted k-nearest-neighbour classification of frozen features.

This is the non-parametric evaluation protocol introduced for instance
discrimination by Wu et al. 2018 ("Unsupervised Feature Learning via
Non-Parametric Instance Discrimination", CVPR 2018) and used since then by
many self-supervised methods. Every query votes with its ``k`` most similar
training samples; each neighbour ``x_i`` with label ``y_i`` contributes the
weight ``exp(s(x, x_i) / T)`` to its class:

.. math::

    \\mathrm{score}_c(x) = \\sum_{i \\in N_k(x)}
        \\exp\\big(s(x, x_i) / T\\big) \\cdot [y_i = c]

where ``s`` is the cosine similarity (a dot product, since features are
L2-normalised), ``N_k(x)`` the ``k`` training samples with the largest
similarity to ``x`` and ``T`` a temperature.

Everything here is plain PyTorch. The neighbour search is the package's one exact
top-k search (:func:`csml_mm.utils.topk_search.exact_topk`), run ``chunk_size``
query rows at a time and within its device-memory budget, so the ``M x N``
similarity matrix of ``M`` queries and ``N`` training samples is never formed.
"""

import operator
from typing import Dict, Iterator, Sequence, Tuple

import torch
from torch import Tensor

from csml_mm.utils.topk_search import exact_topk

__all__ = ['knn_classify', 'knn_accuracy']


def _check_feats(feats: Tensor, name: str) -> None:
    """Validate one feature matrix (2-D, non-empty, finite)."""
    if not isinstance(feats, Tensor):
        raise TypeError(f'{name} must be a torch.Tensor, got {type(feats)}.')
    if feats.dim() != 2:
        raise ValueError(f'{name} must be 2-D [num_samples, dim], got shape {tuple(feats.shape)}.')
    if feats.shape[0] == 0:
        raise ValueError(f'{name} is empty (0 samples).')
    if not feats.is_floating_point():
        raise TypeError(f'{name} must be a floating point tensor, got {feats.dtype}.')
    # Checked in row blocks: a full bool mask of a large bank is costly.
    num_bad = 0
    for start in range(0, feats.shape[0], 65536):
        block = feats[start : start + 65536]
        num_bad += int((~torch.isfinite(block)).any(dim=1).sum())
    if num_bad:
        raise ValueError(
            f'{name} contains non-finite values (NaN or Inf) in {num_bad} of {feats.shape[0]} rows.'
        )


def _check_labels(labels: Tensor, num: int, num_classes: int, name: str) -> None:
    """Validate a label vector against its feature matrix."""
    if not isinstance(labels, Tensor):
        raise TypeError(f'{name} must be a torch.Tensor, got {type(labels)}.')
    if labels.dim() != 1 or labels.shape[0] != num:
        raise ValueError(
            f'{name} must have shape [{num}] to match the features, got {tuple(labels.shape)}.'
        )
    if labels.is_floating_point() or labels.is_complex():
        raise TypeError(f'{name} must be an integer tensor, got {labels.dtype}.')
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= num_classes:
        raise ValueError(f'{name} must lie in [0, {num_classes}), got values in [{lo}, {hi}].')


def _as_k(k) -> int:
    """Return ``k`` as a Python int; accepts numpy integers, not floats."""
    if isinstance(k, bool):
        raise ValueError(f'k must be a positive int, got {k!r}.')
    try:
        return operator.index(k)
    except TypeError:
        raise ValueError(f'k must be a positive int, got {k!r}.') from None


def _check_common(
    train_feats: Tensor,
    train_labels: Tensor,
    query_feats: Tensor,
    num_classes: int,
    ks: Sequence[int],
    temperature: float,
    chunk_size: int,
) -> None:
    """Validate the arguments shared by both public functions."""
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f'num_classes must be a positive int, got {num_classes!r}.')
    _check_feats(train_feats, 'train_feats')
    _check_feats(query_feats, 'query_feats')
    if train_feats.shape[1] != query_feats.shape[1]:
        raise ValueError(
            'train_feats and query_feats must have the same feature '
            f'dimension, got {train_feats.shape[1]} and '
            f'{query_feats.shape[1]}.'
        )
    _check_labels(train_labels, train_feats.shape[0], num_classes, 'train_labels')
    num_train = train_feats.shape[0]
    for k in ks:
        if k < 1:
            raise ValueError(f'k must be a positive int, got {k!r}.')
        if k > num_train:
            raise ValueError(f'k={k} is larger than the number of training samples N={num_train}.')
    if not temperature > 0:
        raise ValueError(f'temperature must be > 0, got {temperature}.')
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f'chunk_size must be a positive int, got {chunk_size!r}.')


def _iter_neighbours(
    train_feats: Tensor, query_feats: Tensor, k: int, chunk_size: int
) -> Iterator[Tuple[int, int, Tensor, Tensor]]:
    """Yield the ``k`` nearest training samples of each chunk of queries.

    Yields:
        tuple: ``(start, end, sims, idx)`` where ``sims`` and ``idx`` have
        shape ``[end - start, k]``, sorted by decreasing similarity, on the
        device of ``train_feats``.
    """
    # One exact search (csml_mm.utils.topk_search) serves mining, kNN and WCL's graph;
    # here it runs on the bank's device, one query block of at most chunk_size rows
    # at a time, within the default device-memory budget.
    for start in range(0, query_feats.shape[0], chunk_size):
        end = min(start + chunk_size, query_feats.shape[0])
        top_sims, top_idx = exact_topk(
            query_feats[start:end],
            train_feats,
            k,
            device=train_feats.device,
            storage_dtype=torch.promote_types(train_feats.dtype, torch.float32),
            max_query_chunk=chunk_size,
        )
        yield start, end, top_sims.to(train_feats.dtype), top_idx


def _vote(top_sims: Tensor, top_labels: Tensor, num_classes: int, temperature: float) -> Tensor:
    """Sum ``exp(sim / T)`` of the neighbours per class -> ``[B, C]``."""
    # Vote in at least float32: exp(1 / 0.07) ~ 1.6e6 overflows float16.
    dtype = torch.promote_types(top_sims.dtype, torch.float32)
    weights = (top_sims.to(dtype) / temperature).exp()
    scores = torch.zeros(top_sims.shape[0], num_classes, dtype=weights.dtype, device=weights.device)
    scores.scatter_add_(1, top_labels, weights)
    return scores


def knn_classify(
    train_feats: Tensor,
    train_labels: Tensor,
    query_feats: Tensor,
    num_classes: int,
    k: int,
    temperature: float = 0.07,
    chunk_size: int = 1024,
) -> Tensor:
    """Weighted-vote kNN class scores (Wu et al. 2018, InstDisc).

    For a query ``x`` the score of class ``c`` is

    ``score_c(x) = sum_{i in N_k(x)} exp(s(x, x_i) / T) * [y_i = c]``

    with ``s`` the cosine similarity and ``N_k(x)`` the ``k`` training
    samples most similar to ``x``. Features are assumed to be L2-normalised
    already, so ``s`` is a plain dot product. The computation runs on the
    device of ``train_feats``; queries are processed ``chunk_size`` rows at a
    time so memory stays ``O(chunk_size * N)``.

    Args:
        train_feats (Tensor): Training (memory bank) features, ``[N, D]``.
        train_labels (Tensor): Integer labels of the training set, ``[N]``.
        query_feats (Tensor): Query features, ``[M, D]``.
        num_classes (int): Number of classes ``C``.
        k (int): Number of neighbours, ``1 <= k <= N``.
        temperature (float): Temperature ``T`` of the vote weights.
            Defaults to 0.07.
        chunk_size (int): Number of query rows per similarity block.
            Defaults to 1024.

    Returns:
        Tensor: Class scores of shape ``[M, C]`` on the device of
        ``train_feats`` (at least float32). With L2-normalised features the
        largest weight is ``exp(1 / T)``, which stays finite in float32 for
        ``T > 1 / 88``.

    Raises:
        ValueError: On empty or non-finite features, mismatched shapes,
            labels outside ``[0, C)``, ``k > N`` or non-positive
            ``k``/``temperature``/``chunk_size``.
    """
    k = _as_k(k)
    _check_common(train_feats, train_labels, query_feats, num_classes, [k], temperature, chunk_size)
    train_labels = train_labels.to(device=train_feats.device, dtype=torch.long)
    out = torch.empty(
        query_feats.shape[0],
        num_classes,
        dtype=torch.promote_types(train_feats.dtype, torch.float32),
        device=train_feats.device,
    )
    for start, end, sims, idx in _iter_neighbours(train_feats, query_feats, k, chunk_size):
        out[start:end] = _vote(sims, train_labels[idx], num_classes, temperature)
    return out


def _num_correct(scores: Tensor, labels: Tensor, n: int) -> int:
    """Count queries whose true class is among the ``n`` best classes.

    A query counts as correct at ``n`` when its true class received at least
    one vote (score > 0) and fewer than ``n`` other classes have a score
    greater than or equal to it. Ties are therefore counted against the query
    and classes without any vote are never "predicted", which keeps the
    metric independent of the tie order of ``torch.topk``.
    """
    true_scores = scores.gather(1, labels[:, None])  # [B, 1]
    # Classes other than the true one scoring at least as high.
    rank = (scores >= true_scores).sum(dim=1) - 1
    correct = (true_scores[:, 0] > 0) & (rank < n)
    return int(correct.sum())


def knn_accuracy(
    train_feats: Tensor,
    train_labels: Tensor,
    query_feats: Tensor,
    query_labels: Tensor,
    num_classes: int,
    topk: Sequence[int] = (10, 20, 100, 200),
    temperature: float = 0.07,
    chunk_size: int = 1024,
) -> Dict[str, float]:
    """Top-1 / top-5 accuracy of the weighted kNN classifier for several k.

    The scores are those of :func:`knn_classify` (Wu et al. 2018). The
    neighbour search is done once for ``max(topk)`` and its sorted result is
    reused for the smaller values of ``k``.

    Top-5 uses ``min(5, num_classes)`` classes. A query is correct at top-n
    when its true class received votes and fewer than ``n`` other classes
    score at least as high (ties count as errors, classes with no vote are
    never predicted).

    Args:
        train_feats (Tensor): Training features, ``[N, D]``, L2-normalised.
        train_labels (Tensor): Training labels, ``[N]``.
        query_feats (Tensor): Query features, ``[M, D]``, L2-normalised.
        query_labels (Tensor): Query labels, ``[M]``.
        num_classes (int): Number of classes ``C``.
        topk (Sequence[int]): Values of ``k`` to evaluate.
            Defaults to ``(10, 20, 100, 200)``.
        temperature (float): Temperature ``T``. Defaults to 0.07.
        chunk_size (int): Query rows per similarity block. Defaults to 1024.

    Returns:
        dict[str, float]: ``{'top1_k{k}': acc, 'top5_k{k}': acc, ...}`` in
        percent, for every ``k`` in ``topk`` (in the given order).
    """
    if isinstance(topk, int):
        topk = (topk,)
    ks = []
    for k in topk:
        k = _as_k(k)
        if k not in ks:
            ks.append(k)
    if len(ks) == 0:
        raise ValueError('topk must contain at least one value of k.')
    _check_common(train_feats, train_labels, query_feats, num_classes, ks, temperature, chunk_size)
    _check_labels(query_labels, query_feats.shape[0], num_classes, 'query_labels')

    device = train_feats.device
    train_labels = train_labels.to(device=device, dtype=torch.long)
    query_labels = query_labels.to(device=device, dtype=torch.long)
    n5 = min(5, num_classes)
    k_max = max(ks)
    correct1 = {k: 0 for k in ks}
    correct5 = {k: 0 for k in ks}
    for start, end, sims, idx in _iter_neighbours(train_feats, query_feats, k_max, chunk_size):
        nb_labels = train_labels[idx]
        labels = query_labels[start:end]
        for k in ks:
            # Neighbours are sorted by decreasing similarity, so the first k
            # columns are exactly the k nearest ones.
            scores = _vote(sims[:, :k], nb_labels[:, :k], num_classes, temperature)
            correct1[k] += _num_correct(scores, labels, 1)
            correct5[k] += _num_correct(scores, labels, n5)

    num_query = query_feats.shape[0]
    results: Dict[str, float] = {}
    for k in ks:
        results[f'top1_k{k}'] = 100.0 * correct1[k] / num_query
        results[f'top5_k{k}'] = 100.0 * correct5[k] / num_query
    return results
