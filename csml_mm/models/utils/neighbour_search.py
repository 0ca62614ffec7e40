"""Exact k-nearest-neighbour search over a whole feature bank, in chunks."""
from typing import Optional

import torch


def knn_search(feats: torch.Tensor, k: int, chunk_size: int = 4096,
               device: Optional[torch.device] = None, backend: str = 'torch') -> torch.Tensor:
    """Indices of the ``k`` most similar rows of ``feats`` for every row, itself excluded.

    Similarity is the inner product, i.e. cosine similarity for L2-normalised rows
    (and the same ranking as L2 distance). The query row's own index is removed
    explicitly, so exact duplicates elsewhere in the bank are still found as
    neighbours. Memory is O(chunk_size x N): the N x N matrix is never formed.

    Args:
        feats: [N, D] features (L2-normalised for cosine ranking).
        k: Neighbours per row; must be < N.
        chunk_size: Query rows per chunk.
        device: Where to compute (default: ``feats.device``); results are on the CPU.
        backend: ``'torch'`` (exact, chunked) or ``'faiss'`` (exact ``IndexFlatIP``,
            needs the ``faiss`` package).

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
    device = torch.device(device) if device is not None else feats.device
    bank = feats.to(device=device, dtype=torch.float32)
    out = torch.empty(n, k, dtype=torch.long)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        sim = bank[start:stop] @ bank.T
        rows = torch.arange(stop - start, device=device)
        sim[rows, rows + start] = float('-inf')
        out[start:stop] = sim.topk(k, dim=1).indices.cpu()
    return out


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
