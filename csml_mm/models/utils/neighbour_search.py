"""Exact k-nearest-neighbour search over a whole feature bank, in chunks."""

from typing import Optional, Union

import torch

from csml_mm.utils.topk_search import DEFAULT_MEMORY_BUDGET, topk_neighbours


def knn_search(
    feats: torch.Tensor,
    k: int,
    chunk_size: int = 4096,
    device: Optional[torch.device] = None,
    backend: str = 'torch',
    memory_budget: Union[int, str] = DEFAULT_MEMORY_BUDGET,
    storage_dtype: str = 'auto',
) -> torch.Tensor:
    """Indices of the ``k`` most similar rows of ``feats`` for every row, itself excluded.

    Similarity is the inner product, i.e. cosine similarity for L2-normalised rows
    (and the same ranking as L2 distance). The query row's own index is removed
    explicitly, so exact duplicates elsewhere in the bank are still found as
    neighbours. This is :func:`csml_mm.utils.topk_search.topk_neighbours` of a whole
    bank held by this process (exact, chunked so that it stays within
    ``memory_budget`` bytes on ``device``), returning the indices only.

    Args:
        feats: [N, D] features (L2-normalised for cosine ranking); stay on their device.
        k: Neighbours per row; must be < N.
        chunk_size: Upper bound on the query rows per block (the budget may lower it).
        device: Where to compute (default: ``feats.device``); results are on the CPU.
        backend: ``'torch'`` (exact, chunked) or ``'faiss'`` (exact ``IndexFlatIP``,
            needs the ``faiss`` package; no memory budget).
        memory_budget: Device bytes for the search (int or e.g. ``'4GiB'``).
        storage_dtype: Device copy of the bank: ``'auto'`` (fp16 on CUDA with exact
            fp32 re-ranking), ``'fp16'`` or ``'fp32'``.

    Returns:
        LongTensor [N, k], neighbours sorted by decreasing similarity.
    """
    _, idx = topk_neighbours(
        feats,
        k,
        memory_budget=memory_budget,
        device=device,
        storage_dtype=storage_dtype,
        max_query_chunk=chunk_size,
        backend=backend,
    )
    return idx
