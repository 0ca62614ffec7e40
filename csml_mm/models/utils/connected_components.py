"""Connected components of a k-nearest-neighbour graph, on the features' device.

WCL (Zheng et al., "Weakly Supervised Contrastive Learning", ICCV 2021) labels
every image of the global batch with the connected component of the 1-NN graph
that contains it. The released code copies the similarity matrix to the host and
calls ``scipy.sparse.csgraph.connected_components``; here the same partition is
computed with tensor operations on the device of the features, without a copy of
the data to the host and without a Python loop over nodes.
"""

from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from csml_mm.utils.host_checks import host_checks_enabled
from csml_mm.utils.topk_search import exact_topk


def knn_graph_neighbours(z: torch.Tensor, k: int = 1, chunk_size: int = 4096) -> torch.Tensor:
    r"""The ``k`` most similar other rows of every row of ``z`` (cosine similarity).

    :math:`\mathrm{nn}_k(i) = \mathrm{top}\text{-}k_{j \neq i}\ \hat z_i \cdot \hat z_j`
    with :math:`\hat z = z / \lVert z \rVert_2`. The row itself is excluded by index,
    so an exact duplicate of row ``i`` elsewhere is still a neighbour.

    Ties: for ``k = 1`` the neighbour is ``torch.argmax``'s pick, the lowest index
    among equally similar rows (the rule scipy-based code gets from ``numpy.argmax``).
    For ``k > 1`` the order among ties is ``torch.topk``'s. The choice is a
    deterministic function of ``z``; the components do not depend on it when the
    maximum is unique.

    Args:
        z: [B, D] features (any scale; rows are L2-normalised here).
        k: Neighbours per row, ``1 <= k < B``.
        chunk_size: Query rows per similarity block (memory O(chunk_size x B)).

    Returns:
        LongTensor [B, k] on ``z``'s device.
    """
    if z.dim() != 2:
        raise ValueError(f'z must be [B, D], got shape {tuple(z.shape)}.')
    n = z.shape[0]
    if not 1 <= k < n:
        raise ValueError(f'A {k}-NN graph needs at least {k + 1} rows, got {n}.')
    with torch.no_grad(), torch.autocast(device_type=z.device.type, enabled=False):
        zn = F.normalize(z.detach().float(), dim=1)
        if n <= chunk_size:
            # a batch in one block: the similarity matrix with the diagonal masked, then
            # argmax (k = 1: the first, i.e. lowest, index among ties) or topk; no host read
            sim = zn @ zn.T
            sim.fill_diagonal_(float('-inf'))
            return sim.argmax(dim=1, keepdim=True) if k == 1 else sim.topk(k, dim=1).indices
        # the package's one exact top-k search; k = 1 ties go to the lowest index
        _, out = exact_topk(
            zn,
            zn,
            k,
            query_ids=torch.arange(n, device=z.device),
            device=z.device,
            storage_dtype='fp32',
            max_query_chunk=chunk_size,
        )
    return out


def functional_graph_components(nbr: torch.Tensor) -> torch.Tensor:
    """Components of the undirected graph with one edge ``i -- nbr[i]`` per node (1-NN).

    Every node has exactly one out-edge, so each component holds exactly one cycle and
    every node reaches it within ``n`` steps. Pointer doubling finds, in
    ``T = ceil(log2 n) + 1`` rounds of gathers, ``f^{2^T}(i)`` (a node on ``i``'s cycle) and
    the smallest index met along ``2^T`` steps from it (the smallest index of the cycle:
    the component's representative); a scatter-min then gives each component its smallest
    node index. A fixed number of rounds and no data-dependent branch: no device-to-host
    read, unlike the union-find of :func:`connected_components_from_edges`, which gives
    the same labels.

    Args:
        nbr: LongTensor [n], any map of ``[0, n)`` into itself (a 1-NN graph's neighbours).

    Returns:
        LongTensor [n]: the smallest node index of each node's component.
    """
    n = nbr.numel()
    idx = torch.arange(n, device=nbr.device)
    jump = nbr.reshape(-1).long()
    rounds = max(1, (n - 1).bit_length()) + 1  # 2^rounds >= 2n
    on_cycle = jump
    for _ in range(rounds):
        on_cycle = on_cycle[on_cycle]  # f^(2^(t+1))(i)
    # smallest index on the walk of 2^t steps from each node, doubled each round
    low, hop = torch.minimum(idx, jump), jump
    for _ in range(rounds):
        low = torch.minimum(low, low[hop])
        hop = hop[hop]
    rep = low[on_cycle]  # the smallest index of i's cycle
    smallest = torch.full((n,), n, dtype=torch.long, device=nbr.device)
    smallest = smallest.scatter_reduce(0, rep, idx, reduce='amin', include_self=True)
    return smallest[rep]


def num_components(labels: torch.Tensor) -> torch.Tensor:
    """The number of components of labels that name each component's smallest index, as a
    device tensor (``labels.unique().numel()`` without the host read)."""
    idx = torch.arange(labels.numel(), device=labels.device)
    return (labels.reshape(-1) == idx).sum()


def _compress(parent: torch.Tensor) -> torch.Tensor:
    """Pointer jumping ``p <- p[p]`` until every node points at its root."""
    while True:
        grand = parent[parent]
        if torch.equal(grand, parent):
            return parent
        parent = grand


def connected_components_from_edges(
    src: torch.Tensor, dst: torch.Tensor, num_nodes: int, return_rounds: bool = False
):
    """Connected-component labels of the undirected graph with edges ``src[e] -- dst[e]``.

    A Shiloach-Vishkin-style scheme on tensors: every node keeps a parent pointer
    (initially itself; pointers only ever decrease and stay inside the node's
    component). One round

    1. *hooks*: for every edge (both directions) the root of one end is pointed at
       the root of the other end if that is smaller (``scatter_reduce('amin')``);
    2. *shortcuts*: pointer jumping ``p <- p[p]`` until the forest is a set of stars.

    The rounds stop when both ends of every edge have the same root; the stars are
    then exactly the components. Each round with an unresolved edge merges at least
    two stars, so there are at most ``num_nodes`` rounds; in practice a few (each
    shortcut phase takes O(log depth) jumps). The loop runs over rounds, never over
    nodes, and everything stays on the edges' device.

    Args:
        src, dst: LongTensors [E] of node indices in ``[0, num_nodes)``.
        num_nodes: Number of nodes (isolated nodes get their own label).
        return_rounds: Also return the number of hooking rounds (diagnostics).

    Returns:
        LongTensor [num_nodes]: the smallest node index of each node's component
        (and the number of rounds if ``return_rounds``).
    """
    if src.shape != dst.shape or src.dim() != 1:
        raise ValueError('src and dst must be 1-D tensors of the same length.')
    device = src.device
    parent = torch.arange(num_nodes, device=device)
    if src.numel() == 0:
        return (parent, 0) if return_rounds else parent
    u = torch.cat([src, dst]).long()
    v = torch.cat([dst, src]).long()
    if int(u.min()) < 0 or int(u.max()) >= num_nodes:  # u holds both ends of every edge
        raise ValueError(f'Edge endpoints must lie in [0, {num_nodes}).')
    rounds = 0
    for rounds in range(1, num_nodes + 1):  # bound never reached: see docstring
        root_u, root_v = parent[u], parent[v]
        if torch.equal(root_u, root_v):
            rounds -= 1
            break
        # parent[root_u] = min(parent[root_u], root_v) over all edges.
        parent = parent.scatter_reduce(0, root_u, root_v, reduce='amin', include_self=True)
        parent = _compress(parent)
    return (parent, rounds) if return_rounds else parent


def connected_component_labels(
    z: torch.Tensor, k: int = 1, chunk_size: int = 4096, return_neighbours: bool = False
) -> torch.Tensor | Tuple[torch.Tensor, torch.Tensor]:
    """Labels of the connected components of the undirected k-NN graph over the rows of ``z``.

    The graph has an edge ``{i, j}`` for every ``j`` among the ``k`` nearest
    neighbours of ``i`` (cosine similarity, ``i`` itself excluded; see
    :func:`knn_graph_neighbours`). Labels are the smallest row index of each
    component, so two rows share a label iff they are in the same component: the
    same partition as ``scipy.sparse.csgraph.connected_components(directed=False)``
    on that graph. Computed on ``z``'s device; for B = 8192 the similarity blocks
    take O(chunk_size x B) memory.

    A single row (B = 1) has no neighbour and gets label 0.

    Args:
        z: [B, D] features; must be finite.
        k: Neighbours per node (WCL: 1).
        chunk_size: Query rows per similarity block.
        return_neighbours: Also return the [B, k] neighbour indices.

    Returns:
        LongTensor [B] on ``z``'s device (and the neighbour indices).
    """
    if z.dim() != 2:
        raise ValueError(f'z must be [B, D], got shape {tuple(z.shape)}.')
    if k < 1:
        raise ValueError(f'k must be >= 1, got {k}.')
    if host_checks_enabled(z) and not bool(torch.isfinite(z).all()):
        raise ValueError('connected_component_labels: z contains NaN or Inf.')
    n = z.shape[0]
    if n == 1:
        labels = torch.zeros(1, dtype=torch.long, device=z.device)
        nbrs = torch.empty(1, 0, dtype=torch.long, device=z.device)
        return (labels, nbrs) if return_neighbours else labels
    nbrs = knn_graph_neighbours(z, min(k, n - 1), chunk_size)
    if nbrs.shape[1] == 1:  # WCL's 1-NN graph: fixed rounds, no host read
        labels = functional_graph_components(nbrs[:, 0])
    else:
        src = torch.arange(n, device=z.device).repeat_interleave(nbrs.shape[1])
        labels = connected_components_from_edges(src, nbrs.reshape(-1), n)
    return (labels, nbrs) if return_neighbours else labels


def same_label_mask(labels: torch.Tensor, other: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``mask[i, j] = labels[i] == other[j]`` (``other`` defaults to ``labels``)."""
    other = labels if other is None else other
    return labels.unsqueeze(1) == other.unsqueeze(0)
