"""One exact, chunked, memory-budgeted top-k similarity search.

It serves CsMl's neighbour mining (:class:`~csml_mm.engine.hooks.NeighbourMiningHook`),
the kNN evaluation (:mod:`csml_mm.evaluation.knn`) and WCL's 1-NN graph
(:mod:`csml_mm.models.utils.connected_components`).

For queries :math:`q_i` and a bank :math:`b_j` it returns, for every query, the
``k`` bank rows with the largest inner product :math:`s_{ij} = q_i \\cdot b_j`
(cosine similarity for L2-normalised rows), sorted by decreasing similarity,
optionally excluding the bank row that *is* the query (same id).

Entry points: :func:`topk_neighbours` finds every row's neighbours within one bank (the
row itself excluded), in one process or with the bank sharded across ranks, and parses the
memory budget once; :func:`exact_topk` searches queries against a bank. Both plan one
search (:func:`plan_search`) and run it.

Memory. The ``[Q, N]`` similarity matrix is never formed: queries are taken
``query_chunk`` rows at a time and the bank ``bank_chunk`` rows at a time, with a
running top-k merged after every bank block. Both chunk sizes are derived from
``memory_budget`` (bytes on the compute device; see :func:`plan_search`). The bank
stays on the device when it fits half the budget and is streamed from the host in
blocks otherwise.

Exactness with fp16 storage. On CUDA the device copy of the bank is stored in
fp16 by default (half the memory). The fp16 search then keeps ``k + extra``
candidates per query; they are re-ranked with the fp32 rows, and a row is
accepted only if its re-ranked ``k``-th similarity exceeds the best similarity any
non-candidate could have (the last candidate's fp16 similarity plus the bound on
the fp16 error, :func:`fp16_error_bound`). Rows that fail the check are searched
again in fp32. The result therefore equals the fp32 search, up to the order of
exactly tied similarities.
"""

import math
import re
from dataclasses import dataclass, replace
from typing import Optional, Tuple, Union

import torch
from torch import Tensor

__all__ = [
    'parse_bytes',
    'plan_search',
    'SearchPlan',
    'exact_topk',
    'fp16_error_bound',
    'topk_neighbours',
    'DEFAULT_MEMORY_BUDGET',
]

#: Default device-memory budget of one search (bytes).
DEFAULT_MEMORY_BUDGET = 4 * 1024**3
_UNITS = {
    '': 1,
    'b': 1,
    'k': 1000,
    'kb': 1000,
    'm': 1000**2,
    'mb': 1000**2,
    'g': 1000**3,
    'gb': 1000**3,
    'kib': 1024,
    'mib': 1024**2,
    'gib': 1024**3,
    'tib': 1024**4,
}


def parse_bytes(size: Union[int, float, str]) -> int:
    """``4294967296``, ``'4GiB'``, ``'512MB'``, ``'1.5 GiB'`` -> bytes."""
    if isinstance(size, bool):
        raise TypeError(f'memory budget must be bytes or a string like "4GiB", got {size!r}.')
    if isinstance(size, (int, float)):
        value = int(size)
    else:
        m = re.fullmatch(r'\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*', str(size))
        if m is None or m.group(2).lower() not in _UNITS:
            raise ValueError(
                f'Cannot read the memory budget {size!r}; write bytes or a size '
                'like "4GiB", "512MiB", "2GB".'
            )
        value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if value <= 0:
        raise ValueError(f'The memory budget must be positive, got {size!r}.')
    return value


@dataclass(frozen=True)
class SearchPlan:
    """How one search uses its budget (all sizes in rows / bytes)."""

    query_chunk: int
    bank_chunk: int
    bank_resident: bool  # the (storage-dtype) bank is copied to the device once
    candidates: int  # per query and bank block: k, or k + extra with fp16 storage
    bytes_bank: int  # device bytes of the resident bank (0 when streamed: in block bytes)
    bytes_per_block: int  # device bytes of the temporaries of one (query, bank) block
    budget: int

    @property
    def bytes_total(self) -> int:
        return self.bytes_bank + self.bytes_per_block


def _block_bytes(
    q: int, b: int, dim: int, cand: int, storage: int, streamed: bool, rerank: bool
) -> int:
    """Device bytes of the temporaries of one query block against one bank block."""
    acc = max(4, storage)  # similarities are computed in fp32 (float64 for float64 banks)
    total = q * dim * (acc + storage)  # query rows + their storage-dtype copy
    total += 2 * q * b * acc  # the similarity block and topk's working copy
    total += q * b  # the bool self-exclusion mask
    total += 4 * q * (2 * cand) * 8  # running and new top-k (values + indices) + merge
    if streamed:
        total += b * dim * (4 + storage)  # the bank block (fp32 from the host + cast)
    if rerank:
        total += q * cand * dim * 4 + q * cand * 8  # gathered fp32 candidate rows
    return total


def plan_search(
    num_queries: int,
    num_bank: int,
    dim: int,
    k: int,
    *,
    memory_budget: Union[int, str] = DEFAULT_MEMORY_BUDGET,
    storage_bytes: int = 4,
    extra: int = 0,
    max_query_chunk: int = 4096,
    allow_resident: bool = True,
) -> SearchPlan:
    """Chunk sizes that keep one search within ``memory_budget`` bytes on its device.

    The bank is kept on the device when it takes at most half the budget; otherwise
    it is streamed in blocks that, with their temporaries, fit the other half.
    Query blocks are as large as the rest of the budget allows, up to
    ``max_query_chunk`` rows.

    Raises:
        ValueError: when not even one query row against a 1-row bank block fits.
    """
    budget = parse_bytes(memory_budget)
    cand = k + extra
    rerank = extra > 0
    bank_bytes = num_bank * dim * storage_bytes
    q_max = max(1, min(max_query_chunk, num_queries))
    resident = allow_resident and bank_bytes <= budget // 2
    if resident:
        left = budget - bank_bytes
        b = num_bank
        q = q_max
        # Shrink the query block first, down to 64 rows; then split the bank too.
        while q > 1 and _block_bytes(q, b, dim, cand, storage_bytes, False, rerank) > left:
            if q > 64 or b <= 1:
                q = max(1, q // 2)
            else:
                b = max(1, b // 2)
        while b > 1 and _block_bytes(q, b, dim, cand, storage_bytes, False, rerank) > left:
            b = max(1, b // 2)
        used_bank = bank_bytes
    else:
        left = budget
        b = num_bank
        q = q_max
        while _block_bytes(q, b, dim, cand, storage_bytes, True, rerank) > left:
            if b > 1 and (b > 4 * q or q <= 64):
                b = max(1, b // 2)
            elif q > 1:
                q = max(1, q // 2)
            else:
                break
        used_bank = 0
    block = _block_bytes(q, b, dim, cand, storage_bytes, not resident, rerank)
    if used_bank + block > budget:
        raise ValueError(
            f'A memory budget of {budget} bytes is too small to search a bank of {num_bank} '
            f'x {dim} features for k={k} (one query row needs {used_bank + block} bytes). '
            'Raise memory_budget.'
        )
    return SearchPlan(
        query_chunk=q,
        bank_chunk=max(1, min(b, num_bank)),
        bank_resident=resident,
        candidates=cand,
        bytes_bank=used_bank,
        bytes_per_block=block,
        budget=budget,
    )


def fp16_error_bound(dim: int) -> float:
    """Bound on ``|s16 - s32| / (|q| |b|)`` for an inner product of fp16-stored rows.

    Rounding each element of both rows to fp16 (unit roundoff ``u = 2**-11``) changes
    the product by at most ``(2u + u**2) |q| |b|``; an fp16 output (CUDA half matmul)
    adds ``u |s|``, and fp32 accumulation over ``dim`` terms ``dim * 2**-23``. The
    bound is taken with a factor 2 of margin.
    """
    u = 2.0**-11
    return 2.0 * (3 * u + u * u + dim * 2.0**-23)


def _resolve_storage(
    storage_dtype: Union[str, torch.dtype, None], device: torch.device
) -> torch.dtype:
    if storage_dtype in (None, 'auto'):
        return torch.float16 if device.type == 'cuda' else torch.float32
    if isinstance(storage_dtype, str):
        storage_dtype = {
            'fp16': torch.float16,
            'float16': torch.float16,
            'fp32': torch.float32,
            'float32': torch.float32,
        }.get(storage_dtype)
    if storage_dtype not in (torch.float16, torch.float32, torch.float64):
        raise ValueError("storage_dtype must be 'auto', 'fp16', 'fp32' or torch.float64.")
    return storage_dtype


def _self_positions(
    query_ids: Optional[Tensor], bank_ids: Optional[Tensor], num_bank: int, device: torch.device
) -> Optional[Tensor]:
    """For each query, the bank row with the same id (or -1)."""
    if query_ids is None:
        return None
    query_ids = query_ids.long().cpu()
    if bank_ids is None:
        bank_ids = torch.arange(num_bank)
    bank_ids = bank_ids.long().cpu()
    top = (
        int(
            max(
                int(bank_ids.max()) if num_bank else 0,
                int(query_ids.max()) if query_ids.numel() else 0,
            )
        )
        + 1
    )
    pos = torch.full((top,), -1, dtype=torch.long)
    pos[bank_ids] = torch.arange(num_bank)
    return pos[query_ids].to(device)


def _merge(best_s: Tensor, best_i: Tensor, s: Tensor, i: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """Top-k of the union of two sorted candidate lists (earlier list first on ties)."""
    cat_s = torch.cat([best_s, s], dim=1)
    cat_i = torch.cat([best_i, i], dim=1)
    if k == 1:
        j = cat_s.argmax(dim=1, keepdim=True)  # first maximum: the earlier candidate
        return cat_s.gather(1, j), cat_i.gather(1, j)
    top_s, j = cat_s.topk(k, dim=1)
    return top_s, cat_i.gather(1, j)


def _search_block(
    q: Tensor,
    bank_store: Tensor,
    bank_host: Tensor,
    plan: SearchPlan,
    k: int,
    self_pos: Optional[Tensor],
    device: torch.device,
    dtype: torch.dtype,
) -> Tuple[Tensor, Tensor]:
    """Running top-``plan.candidates`` of one query block over the whole bank."""
    n = bank_host.shape[0]
    cand = min(plan.candidates, n)
    rows = q.shape[0]
    cdt = torch.promote_types(dtype, torch.float32)
    best_s = torch.full((rows, 0), float('-inf'), device=device, dtype=cdt)
    best_i = torch.empty((rows, 0), dtype=torch.long, device=device)
    qs = q.to(dtype)
    row_ar = torch.arange(rows, device=device)
    for b0 in range(0, n, plan.bank_chunk):
        b1 = min(b0 + plan.bank_chunk, n)
        if plan.bank_resident:
            block = bank_store[b0:b1]
        else:
            block = bank_host[b0:b1].to(device=device, dtype=cdt).to(dtype)
        sim = (qs @ block.T).to(cdt)
        if self_pos is not None:
            inside = (self_pos >= b0) & (self_pos < b1)
            sim[row_ar[inside], self_pos[inside] - b0] = float('-inf')
        c = min(cand, b1 - b0)
        if c == 1:
            j = sim.argmax(dim=1, keepdim=True)
            s = sim.gather(1, j)
        else:
            s, j = sim.topk(c, dim=1)
        del sim
        best_s, best_i = _merge(best_s, best_i, s, j + b0, min(cand, best_s.shape[1] + c))
    return best_s, best_i


def _fp16_extra(dtype: torch.dtype, k: int, fp16_extra: Optional[int] = None) -> int:
    """Extra candidates re-ranked in fp32 when the device bank is fp16 (0 otherwise)."""
    if dtype != torch.float16:
        return 0
    return max(8, k) if fp16_extra is None else fp16_extra


@dataclass
class _DeviceBank:
    """A bank ready to be searched under one :class:`SearchPlan`.

    Attributes:
        host: ``[N, D]`` rows where the caller keeps them (fp32 re-ranking reads these).
        store: The storage-dtype copy on ``device`` when the plan keeps the bank resident,
            else ``host`` itself (streamed in blocks).
        norm_max: Largest row norm (for the fp16 error bound; 0 without fp16 storage).
        device: Where the search computes.
        dtype: Storage dtype of the device copy.
    """

    host: Tensor
    store: Tensor
    norm_max: float
    device: torch.device
    dtype: torch.dtype

    @classmethod
    def build(
        cls, bank: Tensor, plan: SearchPlan, device: torch.device, dtype: torch.dtype
    ) -> '_DeviceBank':
        """Copy ``bank`` to ``device`` once if ``plan`` keeps it resident."""
        store = bank.to(device=device, dtype=dtype) if plan.bank_resident else bank
        norm_max = float(bank.float().norm(dim=1).max()) if dtype == torch.float16 else 0.0
        return cls(host=bank, store=store, norm_max=norm_max, device=device, dtype=dtype)


def exact_topk(
    queries: Tensor,
    bank: Tensor,
    k: int,
    *,
    query_ids: Optional[Tensor] = None,
    bank_ids: Optional[Tensor] = None,
    memory_budget: Union[int, str] = DEFAULT_MEMORY_BUDGET,
    device: Union[str, torch.device, None] = None,
    storage_dtype: Union[str, torch.dtype, None] = 'auto',
    max_query_chunk: int = 4096,
    fp16_extra: Optional[int] = None,
    return_plan: bool = False,
):
    """Exact top-``k`` inner-product search of every query row over ``bank``.

    :math:`\\mathrm{top}_k(i) = \\operatorname{arg\\,top\\text{-}k}_{j:\\ \\mathrm{id}(b_j)
    \\neq \\mathrm{id}(q_i)}\\ q_i \\cdot b_j`

    Args:
        queries: ``[Q, D]`` query features (any device).
        bank: ``[N, D]`` bank features; stays where it is (the host, typically) and
            is copied to ``device`` whole (when it fits half the budget) or in blocks.
        k: Neighbours per query, ``1 <= k <= N`` (``N - 1`` when excluding self).
        query_ids, bank_ids: Ids (e.g. dataset indices) of the rows; a bank row whose
            id equals the query's is excluded (only it: duplicates elsewhere still
            count). ``bank_ids`` defaults to ``0..N-1``; without ``query_ids`` nothing
            is excluded.
        memory_budget: Device bytes for the search, int or e.g. ``'4GiB'``.
        device: Where to compute (default: ``bank``'s device).
        storage_dtype: ``'auto'`` (fp16 on CUDA, fp32 elsewhere), ``'fp16'``, ``'fp32'``
            or ``torch.float64`` (then everything is computed in float64).
        max_query_chunk: Upper bound on the query rows per block.
        fp16_extra: Extra candidates re-ranked in fp32 with fp16 storage
            (default ``max(8, k)``).
        return_plan: Also return the :class:`SearchPlan` and the number of query
            rows that had to be searched again in fp32.

    Returns:
        ``(sims, idx)``: float32 (float64) ``[Q, k]`` similarities and long
        ``[Q, k]`` bank row positions, sorted by decreasing similarity, on ``device``.
        For ``k = 1`` ties go to the lowest bank position.
    """
    if queries.dim() != 2 or bank.dim() != 2 or queries.shape[1] != bank.shape[1]:
        raise ValueError(
            f'queries [Q, D] and bank [N, D] must share D, got '
            f'{tuple(queries.shape)} and {tuple(bank.shape)}.'
        )
    n, dim = bank.shape
    if query_ids is not None and query_ids.shape[0] != queries.shape[0]:
        raise ValueError('query_ids must have one id per query row.')
    if bank_ids is not None and bank_ids.shape[0] != n:
        raise ValueError('bank_ids must have one id per bank row.')
    device = torch.device(device) if device is not None else bank.device
    self_pos = _self_positions(query_ids, bank_ids, n, device)
    excluding = self_pos is not None and bool((self_pos >= 0).any())
    limit = n - 1 if excluding else n
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= limit:
        raise ValueError(
            f'k={k!r} neighbours need a bank of at least {k + int(excluding)} '
            f'rows{" (the query itself is excluded)" if excluding else ""}; '
            f'it has {n}. Lower k or use more data.'
        )
    dtype = _resolve_storage(storage_dtype, device)
    extra = _fp16_extra(dtype, k, fp16_extra)
    plan = plan_search(
        queries.shape[0],
        n,
        dim,
        k,
        memory_budget=memory_budget,
        storage_bytes=torch.finfo(dtype).bits // 8,
        extra=extra,
        max_query_chunk=max_query_chunk,
    )
    dev_bank = _DeviceBank.build(bank, plan, device, dtype)
    out_s, out_i, redone = _search_planned(
        queries, dev_bank, k, plan, self_pos, extra, max_query_chunk
    )
    if return_plan:
        return out_s, out_i, plan, redone
    return out_s, out_i


def _search_planned(
    queries: Tensor,
    bank: _DeviceBank,
    k: int,
    plan: SearchPlan,
    self_pos: Optional[Tensor],
    extra: int,
    max_query_chunk: int,
) -> Tuple[Tensor, Tensor, int]:
    """Top-``k`` of every query row over a prepared bank, query block by query block.

    Args:
        queries: ``[Q, D]`` query rows (any device).
        bank: The bank, prepared for ``plan``.
        k: Neighbours per query (validated by the caller).
        plan: Chunk sizes; ``plan.candidates`` must be ``k + extra``.
        self_pos: Per query, the bank position to exclude (-1: none), or ``None``.
        extra: fp16 candidates re-ranked in fp32 (0 without fp16 storage).
        max_query_chunk: Query-block bound of the fp32 re-search plan.

    Returns:
        ``(sims, idx, redone)``: ``[Q, k]`` similarities and bank positions on the
        bank's device, and the number of rows searched again in fp32.
    """
    device, dtype = bank.device, bank.dtype
    n, dim = bank.host.shape
    cdt = torch.promote_types(dtype, torch.float32)  # float64 banks stay float64
    out_s = torch.empty(queries.shape[0], k, device=device, dtype=cdt)
    out_i = torch.empty(queries.shape[0], k, dtype=torch.long, device=device)
    redone = 0
    for q0 in range(0, queries.shape[0], plan.query_chunk):
        q1 = min(q0 + plan.query_chunk, queries.shape[0])
        q = queries[q0:q1].to(device=device, dtype=cdt)
        pos = None if self_pos is None else self_pos[q0:q1]
        s, i = _search_block(q, bank.store, bank.host, plan, k, pos, device, dtype)
        if extra:
            s, i, bad = _rerank_fp32(q, bank.host, s, i, k, dim, bank.norm_max, device)
            s, i = s[:, :k].contiguous(), i[:, :k].contiguous()
            if bool(bad.any()):
                redone += int(bad.sum())
                # the fp32 bank block replaces the resident fp16 bank's share of the budget
                fp32_plan = plan_search(
                    int(bad.sum()),
                    n,
                    dim,
                    k,
                    memory_budget=max(
                        plan.budget - plan.bytes_bank - plan.bytes_per_block, plan.budget // 4
                    ),
                    storage_bytes=4,
                    max_query_chunk=max_query_chunk,
                    allow_resident=False,
                )
                s2, i2 = _search_block(
                    q[bad],
                    None,
                    bank.host,
                    fp32_plan,
                    k,
                    None if pos is None else pos[bad],
                    device,
                    torch.float32,
                )
                s[bad], i[bad] = s2[:, :k], i2[:, :k]
        out_s[q0:q1], out_i[q0:q1] = s[:, :k], i[:, :k]
    return out_s, out_i, redone


def _rerank_fp32(
    q: Tensor,
    bank: Tensor,
    s16: Tensor,
    idx: Tensor,
    k: int,
    dim: int,
    bank_norm_max: float,
    device: torch.device,
) -> Tuple[Tensor, Tensor, Tensor]:
    """Re-rank fp16 candidates with fp32 rows; flag rows where a non-candidate could win."""
    rows = bank[idx.cpu()].to(device=device, dtype=torch.float32)  # [q, c, D]
    s32 = torch.einsum('qd,qcd->qc', q, rows)
    del rows
    s32[torch.isneginf(s16)] = float('-inf')  # the excluded query row stays excluded
    s32, order = s32.sort(dim=1, descending=True)
    idx = idx.gather(1, order)
    n_cand = s16.shape[1]
    if n_cand >= bank.shape[0] - 1:
        return s32, idx, torch.zeros(q.shape[0], dtype=torch.bool, device=device)
    bound = fp16_error_bound(dim) * q.norm(dim=1) * bank_norm_max
    # a non-candidate j has s16_j <= last candidate's s16, so s32_j <= s16_last + bound
    safe = s32[:, k - 1] > s16[:, -1] + bound
    return s32, idx, ~safe


def topk_neighbours(
    feats: Tensor,
    k: int,
    *,
    ids: Optional[Tensor] = None,
    sharded: bool = False,
    memory_budget: Union[int, str] = DEFAULT_MEMORY_BUDGET,
    device: Union[str, torch.device, None] = None,
    storage_dtype: Union[str, torch.dtype, None] = 'auto',
    max_query_chunk: int = 4096,
    backend: str = 'torch',
) -> Tuple[Tensor, Tensor]:
    """The ``k`` nearest rows of every row of a bank, the row itself excluded: the one entry
    point of neighbour search, for one process and for a bank sharded across ranks.

    Similarity is the inner product (cosine similarity for L2-normalised rows). Only the
    row itself (by id) is excluded, so exact duplicates elsewhere are still found.

    With ``sharded=False`` (or one process) ``feats`` is the whole bank and the search is
    :func:`exact_topk` of the bank against itself (or faiss). With ``sharded=True`` under
    an initialised process group of several ranks, every rank passes only its shard
    (``feats`` with their global ``ids``; the shards are disjoint and together form the
    bank). The search is planned once per rank; query blocks of each rank in turn (of
    the size every rank's plan allows) are broadcast, every rank ranks them against its
    own shard, and the per-shard top-k lists are gathered to the owning rank and merged:
    exact, since the global top-k is contained in the union of the shards' top-k. No rank
    holds more than its shard plus one query block. All ranks must call it together.

    Args:
        feats: ``[n, D]`` rows: the whole bank, or with ``sharded`` this rank's shard.
        k: Neighbours per row, ``1 <= k < N`` (``N`` the rows of the whole bank).
        ids: ``[n]`` distinct ids of the rows (e.g. dataset indices); the neighbours are
            returned as ids. Default ``0..n-1`` (needed with ``sharded`` and several ranks).
        sharded: ``feats`` is this rank's shard of a bank spread over the process group.
        memory_budget: Device bytes for the search, int or e.g. ``'4GiB'``; it is parsed
            here, once, and the chunk sizes follow from it (:func:`plan_search`).
        device: Where to compute (default: ``feats``' device).
        storage_dtype: Device copy of the bank: ``'auto'`` (fp16 on CUDA with exact fp32
            re-ranking, fp32 elsewhere), ``'fp16'`` or ``'fp32'``.
        max_query_chunk: Upper bound on the query rows per block.
        backend: ``'torch'`` (exact, chunked, within ``memory_budget``) or ``'faiss'``
            (exact ``IndexFlatIP``, one process only, no memory budget; needs ``faiss``).

    Returns:
        ``(sims, nbr_ids)``: float ``[n, k]`` similarities and long ``[n, k]`` ids of each
        row's neighbours, sorted by decreasing similarity, on the CPU.

    Raises:
        ValueError: bad shapes, ``k`` out of range, non-finite features (on any rank),
            an unknown backend or ``'faiss'`` with a sharded bank on several ranks.
    """
    if feats.dim() != 2:
        raise ValueError(f'feats must be [N, D], got shape {tuple(feats.shape)}.')
    if backend not in ('torch', 'faiss'):
        raise ValueError(f"backend must be 'torch' or 'faiss', got {backend!r}.")
    budget = parse_bytes(memory_budget)
    n = feats.shape[0]
    ids = torch.arange(n) if ids is None else ids.long().cpu()
    if ids.shape != (n,):
        raise ValueError(f'ids must be [{n}] (one id per row), got {tuple(ids.shape)}.')
    if sharded:
        from mmengine.dist import get_world_size

        if get_world_size() > 1:
            if backend != 'torch':
                raise ValueError(
                    "backend='faiss' is single-process only; use "
                    "backend='torch' (exact, sharded across ranks) under DDP."
                )
            return _sharded_topk(feats, ids, k, budget, device, storage_dtype, max_query_chunk)
    if isinstance(k, bool) or not isinstance(k, int) or not 0 < k < n:
        raise ValueError(
            f'k={k} neighbours need at least k+1 samples, the bank has {n}. '
            'Lower the number of neighbours (e.g. num_neighbours) or use more data.'
        )
    if not torch.isfinite(feats).all():
        raise ValueError('topk_neighbours: the features contain NaN or Inf.')
    if backend == 'faiss':
        sims, idx = _faiss_topk(feats, k)
    else:
        sims, idx = exact_topk(
            feats,
            feats,
            k,
            query_ids=ids,
            bank_ids=ids,
            memory_budget=budget,
            device=device,
            storage_dtype=storage_dtype,
            max_query_chunk=max_query_chunk,
        )
    return sims.cpu(), ids[idx.cpu()]


def _sharded_topk(
    local_feats: Tensor,
    local_ids: Tensor,
    k: int,
    budget: int,
    device: Union[str, torch.device, None],
    storage_dtype: Union[str, torch.dtype, None],
    max_query_chunk: int,
) -> Tuple[Tensor, Tensor]:
    """:func:`topk_neighbours` over shards on several ranks (see there); CPU results."""
    from mmengine.dist import all_gather, broadcast, get_rank

    rank = get_rank()
    n_local, dim = local_feats.shape
    nonfinite = int(not bool(torch.isfinite(local_feats).all()))
    metas = [m.tolist() for m in all_gather(torch.tensor([n_local, nonfinite]))]
    sizes = [m[0] for m in metas]
    bad_ranks = [r for r, m in enumerate(metas) if m[1]]
    if bad_ranks:  # every rank raises, none waits in a collective
        raise ValueError(
            f'topk_neighbours: the features of rank(s) {bad_ranks} contain NaN or Inf.'
        )
    total = sum(sizes)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < total:
        raise ValueError(
            f'k={k} neighbours need at least k+1 samples, the shards hold '
            f'{total}. Lower the number of neighbours (e.g. num_neighbours) or '
            'use more data.'
        )
    device = torch.device(device) if device is not None else local_feats.device
    dtype = _resolve_storage(storage_dtype, device)
    plan, bank = None, None
    if n_local:  # one plan for all of this rank's searches: its shard against any block
        plan = plan_search(
            max(sizes),
            n_local,
            dim,
            k,
            memory_budget=budget,
            storage_bytes=torch.finfo(dtype).bits // 8,
            extra=_fp16_extra(dtype, k),
            max_query_chunk=max_query_chunk,
        )
        bank = _DeviceBank.build(local_feats, plan, device, dtype)
    # the broadcast blocks must be the same on every rank: the smallest plan's
    own_chunk = plan.query_chunk if plan is not None else max(1, max_query_chunk)
    chunk = min(int(c) for c in all_gather(torch.tensor([own_chunk])))
    out_s = torch.empty(n_local, k)
    out_i = torch.empty(n_local, k, dtype=torch.long)
    for src, size in enumerate(sizes):
        for q0 in range(0, size, chunk):
            q1 = min(q0 + chunk, size)
            if rank == src:
                q = local_feats[q0:q1].float().contiguous()
                qid = local_ids[q0:q1].clone()
            else:
                q = torch.empty(q1 - q0, dim)
                qid = torch.empty(q1 - q0, dtype=torch.long)
            broadcast(q, src=src)
            broadcast(qid, src=src)
            s, gid = _local_candidates(q, qid, bank, local_ids, k, plan, max_query_chunk)
            all_s = all_gather(s)
            all_i = all_gather(gid)
            if rank == src:
                cat_s = torch.cat([t.cpu() for t in all_s], dim=1)
                cat_i = torch.cat([t.cpu() for t in all_i], dim=1)
                top_s, j = cat_s.topk(k, dim=1)
                out_s[q0:q1], out_i[q0:q1] = top_s, cat_i.gather(1, j)
    return out_s, out_i


def _local_candidates(
    q: Tensor,
    qid: Tensor,
    bank: Optional[_DeviceBank],
    ids: Tensor,
    k: int,
    plan: Optional[SearchPlan],
    max_query_chunk: int,
) -> Tuple[Tensor, Tensor]:
    """Top-k of the query block within this shard, padded with -inf to exactly ``k``."""
    rows = q.shape[0]
    pad_s = torch.full((rows, k), float('-inf'))
    pad_i = torch.full((rows, k), -1, dtype=torch.long)
    n = ids.shape[0]
    if bank is None or plan is None or n == 0:
        return pad_s, pad_i
    # exclude the query itself where it lives in this shard
    self_pos = _self_positions(qid, ids, n, bank.device)
    own = bool((self_pos >= 0).any())
    kk = min(k, n - 1 if own else n)
    if kk >= 1:
        extra = _fp16_extra(bank.dtype, kk)
        if plan.candidates != kk + extra:  # a shard of at most k rows: fewer candidates
            plan = replace(plan, candidates=kk + extra)
        s, i, _ = _search_planned(q, bank, kk, plan, self_pos, extra, max_query_chunk)
        pad_s[:, :kk] = s.cpu()
        pad_i[:, :kk] = ids[i.cpu()]
    return pad_s, pad_i


def _faiss_topk(feats: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """Exact top-``k`` with faiss' ``IndexFlatIP``, each row's own position excluded."""
    try:
        import faiss
    except ImportError as e:
        raise ImportError(
            "backend='faiss' needs faiss (pip install faiss-cpu); backend='torch' needs nothing."
        ) from e
    x = feats.detach().float().cpu().contiguous().numpy()
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    sims, idx = index.search(x, k + 1)
    sims, idx = torch.from_numpy(sims).float(), torch.from_numpy(idx).long()
    own = torch.arange(x.shape[0]).unsqueeze(1)
    keep = idx != own
    # Drop the row's own index wherever it landed; if it was not among the k+1
    # (ties with duplicates), drop the last result instead.
    keep[keep.all(dim=1), -1] = False
    return sims[keep].view(x.shape[0], k), idx[keep].view(x.shape[0], k)


def human_bytes(n: float) -> str:
    """``1536 -> '1.5 KiB'``."""
    if n < 1024:
        return f'{int(n)} B'
    e = min(int(math.log(n, 1024)), 4)
    return f'{n / 1024**e:.1f} {["B", "KiB", "MiB", "GiB", "TiB"][e]}'
