"""Exact k-nearest-neighbour search over a whole feature bank, in chunks."""
from typing import Optional, Union

import torch

from csml_mm.utils.topk_search import DEFAULT_MEMORY_BUDGET, exact_topk


def knn_search(feats: torch.Tensor, k: int, chunk_size: int = 4096,
               device: Optional[torch.device] = None, backend: str = 'torch',
               memory_budget: Union[int, str] = DEFAULT_MEMORY_BUDGET,
               storage_dtype: str = 'auto') -> torch.Tensor:
    """Indices of the ``k`` most similar rows of ``feats`` for every row, itself excluded.

    Similarity is the inner product, i.e. cosine similarity for L2-normalised rows
    (and the same ranking as L2 distance). The query row's own index is removed
    explicitly, so exact duplicates elsewhere in the bank are still found as
    neighbours. The search is :func:`csml_mm.utils.topk_search.exact_topk`: exact,
    chunked so that it stays within ``memory_budget`` bytes on ``device``.

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
    if feats.dim() != 2:
        raise ValueError(f'feats must be [N, D], got shape {tuple(feats.shape)}.')
    n = feats.shape[0]
    if not 0 < k < n:
        raise ValueError(f'k={k} neighbours need at least k+1 samples, the bank has {n}. '
                         'Lower the number of neighbours (e.g. num_neighbours) or use more data.')
    if not torch.isfinite(feats).all():
        raise ValueError('knn_search: the features contain NaN or Inf.')
    if backend == 'faiss':
        return _faiss_search(feats, k)
    if backend != 'torch':
        raise ValueError(f"backend must be 'torch' or 'faiss', got {backend!r}.")
    _, idx = exact_topk(feats, feats, k, query_ids=torch.arange(n), memory_budget=memory_budget,
                        device=device, storage_dtype=storage_dtype, max_query_chunk=chunk_size)
    return idx.cpu()


def _faiss_search(feats: torch.Tensor, k: int) -> torch.Tensor:
    try:
        import faiss
    except ImportError as e:
        raise ImportError("backend='faiss' needs faiss (pip install faiss-cpu); "
                          "backend='torch' needs nothing.") from e
    x = feats.detach().float().cpu().contiguous().numpy()
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    _, idx = index.search(x, k + 1)
    idx = torch.from_numpy(idx).long()
    own = torch.arange(x.shape[0]).unsqueeze(1)
    keep = idx != own
    # Drop the row's own index wherever it landed; if it was not among the k+1
    # (ties with duplicates), drop the last result instead.
    keep[keep.all(dim=1), -1] = False
    return idx[keep].view(x.shape[0], k)
