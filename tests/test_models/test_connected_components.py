"""connected_component_labels / connected_components_from_edges against scipy."""

import numpy as np
import pytest
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from csml_mm.models.utils import connected_component_labels
from csml_mm.models.utils.connected_components import (
    connected_components_from_edges,
    functional_graph_components,
    knn_graph_neighbours,
    num_components,
)


def _scipy_labels(src, dst, n):
    src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    g = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    return connected_components(g, directed=False)[1]


def _canonical(labels):
    """Relabel by order of first appearance: equal outputs <=> equal partitions."""
    seen, out = {}, []
    for x in np.asarray(labels).tolist():
        out.append(seen.setdefault(x, len(seen)))
    return out


def _assert_same_partition(ours, ref):
    assert _canonical(ours) == _canonical(ref)


def _check_edges(src, dst, n):
    src_t, dst_t = torch.as_tensor(src, dtype=torch.long), torch.as_tensor(dst, dtype=torch.long)
    labels = connected_components_from_edges(src_t, dst_t, n)
    _assert_same_partition(labels.numpy(), _scipy_labels(src, dst, n))
    # labels are the smallest node index of each component
    lab = labels.numpy()
    for c in np.unique(lab):
        assert np.flatnonzero(lab == c).min() == c
    return labels


# ------------------------------------------------------------ adversarial graphs
@pytest.mark.parametrize('n', [1, 2, 3, 7, 64, 1000, 4096])
def test_chains_in_every_order(n):
    g = torch.Generator().manual_seed(n)
    idx = torch.arange(n)
    for order in (idx, idx.flip(0), torch.randperm(n, generator=g)):
        _check_edges(order[:-1], order[1:], n)  # one path through all nodes
        _check_edges(order[1:], order[:-1], n)


def test_stars_trees_cycles_duplicates_self_loops_isolated():
    n = 2000
    g = torch.Generator().manual_seed(0)
    hub_low = (torch.arange(1, n), torch.zeros(n - 1, dtype=torch.long))
    hub_high = (torch.arange(n - 1), torch.full((n - 1,), n - 1))
    _check_edges(*hub_low, n)
    _check_edges(*hub_high, n)
    # binary tree whose labels decrease towards the leaves
    child = torch.arange(1, n)
    parent = (child - 1) // 2
    _check_edges(n - 1 - child, n - 1 - parent, n)
    # a cycle, duplicated edges and self-loops, plus isolated nodes
    cyc = torch.arange(0, 500)
    src = torch.cat([cyc, cyc, torch.tensor([700, 700, 900])])
    dst = torch.cat([cyc.roll(1), cyc.roll(1), torch.tensor([700, 701, 900])])
    _check_edges(src, dst, n)
    # two interleaved chains (evens and odds)
    ev, od = torch.arange(0, n, 2), torch.arange(1, n, 2)
    _check_edges(torch.cat([ev[:-1], od[:-1]]), torch.cat([ev[1:], od[1:]]), n)
    # no edges at all
    labels = connected_components_from_edges(
        torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long), 5
    )
    assert labels.tolist() == [0, 1, 2, 3, 4]
    # random sparse graphs of many sizes
    for m in (1, 5, 50, 500, 3000):
        s = torch.randint(0, n, (m,), generator=g)
        d = torch.randint(0, n, (m,), generator=g)
        _check_edges(s, d, n)


def test_rounds_grow_slowly_on_a_shuffled_chain():
    n = 4096
    order = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    labels, rounds = connected_components_from_edges(order[:-1], order[1:], n, return_rounds=True)
    assert labels.unique().numel() == 1
    assert rounds <= 4 * int(np.log2(n))  # pointer jumping, not one round per hop


def test_edges_out_of_range_are_rejected():
    with pytest.raises(ValueError, match='lie in'):
        connected_components_from_edges(torch.tensor([0]), torch.tensor([5]), 5)


# ------------------------------------------------------------------ k-NN graphs
def _reference_neighbour_sims(z, k):
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    sim = zn @ zn.T
    np.fill_diagonal(sim, -np.inf)
    return sim, -np.sort(-sim, axis=1)[:, :k]


@pytest.mark.parametrize('n', list(range(1, 21)) + [63, 257, 1024, 4096])
def test_one_nn_components_match_scipy_random(n):
    z = torch.randn(n, 12, generator=torch.Generator().manual_seed(n))
    labels, nbrs = connected_component_labels(z, return_neighbours=True)
    assert labels.shape == (n,) and labels.dtype == torch.long
    if n == 1:
        assert labels.tolist() == [0]
        return
    nb = nbrs[:, 0].numpy()
    assert (nb != np.arange(n)).all()  # self excluded
    sim, best = _reference_neighbour_sims(z.double().numpy(), 1)
    assert np.allclose(sim[np.arange(n), nb], best[:, 0], atol=1e-5)  # a nearest neighbour
    _assert_same_partition(labels.numpy(), _scipy_labels(np.arange(n), nb, n))
    # every component of a 1-NN graph has at least 2 nodes
    assert np.bincount(_canonical(labels.numpy())).min() >= 2


def test_ties_and_duplicates_follow_lowest_index_and_match_scipy():
    # 0/1 vectors with four ones: normalised entries are exactly 0.5, so every
    # similarity is an exact multiple of 0.25 and ties are exact.
    rng = np.random.default_rng(0)
    patterns = np.array(
        [[int(b) for b in f'{i:08b}'] for i in range(256) if bin(i).count('1') == 4],
        dtype=np.float32,
    )
    for n in (2, 3, 10, 200, 1000):
        x = patterns[rng.integers(0, len(patterns), n)]
        z = torch.from_numpy(x)
        labels, nbrs = connected_component_labels(z, return_neighbours=True, chunk_size=64)
        sim, _ = _reference_neighbour_sims(x.astype(np.float64), 1)
        expected_nb = sim.argmax(axis=1)  # numpy: the first maximum, as in the released code
        assert nbrs[:, 0].tolist() == expected_nb.tolist()
        _assert_same_partition(labels.numpy(), _scipy_labels(np.arange(n), expected_nb, n))
    # all rows identical: 0 -> 1 and every other row -> 0, one component
    z = torch.ones(50, 4)
    labels, nbrs = connected_component_labels(z, return_neighbours=True)
    assert nbrs[:, 0].tolist() == [1] + [0] * 49
    assert labels.unique().tolist() == [0]


def test_knn_graph_k_greater_than_one_and_chunking():
    n, k = 300, 3
    z = torch.randn(n, 8, generator=torch.Generator().manual_seed(3))
    labels, nbrs = connected_component_labels(z, k=k, chunk_size=37, return_neighbours=True)
    sim, best = _reference_neighbour_sims(z.double().numpy(), k)
    got = np.sort(sim[np.arange(n)[:, None], nbrs.numpy()], axis=1)[:, ::-1]
    assert np.allclose(got, best, atol=1e-5)
    assert len({tuple(sorted(r)) for r in nbrs.tolist()}) > 1
    _assert_same_partition(
        labels.numpy(), _scipy_labels(np.repeat(np.arange(n), k), nbrs.reshape(-1), n)
    )
    # the neighbours do not depend on the chunk size
    assert torch.equal(knn_graph_neighbours(z, k, chunk_size=37), knn_graph_neighbours(z, k))


def test_large_batch_8192():
    n = 8192
    z = torch.randn(n, 16, generator=torch.Generator().manual_seed(8))
    labels, nbrs = connected_component_labels(z, return_neighbours=True)
    _assert_same_partition(labels.numpy(), _scipy_labels(np.arange(n), nbrs[:, 0].numpy(), n))


def test_bad_input():
    with pytest.raises(ValueError, match='NaN or Inf'):
        connected_component_labels(torch.tensor([[0.0, 1.0], [float('nan'), 1.0]]))
    with pytest.raises(ValueError, match=r'\[B, D\]'):
        connected_component_labels(torch.zeros(3))


def _components_by_walking(f):
    """Plain reference: undirected edges i -- f[i], components by depth-first search,
    each labelled with its smallest node."""
    n = len(f)
    adj = [set() for _ in range(n)]
    for i, j in enumerate(f):
        adj[i].add(int(j))
        adj[int(j)].add(i)
    label = [-1] * n
    for start in range(n):
        if label[start] >= 0:
            continue
        stack, comp = [start], []
        label[start] = start
        while stack:
            node = stack.pop()
            comp.append(node)
            for nxt in adj[node]:
                if label[nxt] < 0:
                    label[nxt] = start
                    stack.append(nxt)
        for node in comp:
            label[node] = min(comp)
    return label


@pytest.mark.parametrize('n', [1, 2, 3, 7, 64, 300])
def test_functional_graph_components_match_a_walk(n):
    """The fixed-round 1-NN components (no host read) against a depth-first search, on
    random maps (any cycle lengths, long tails, self-loops) and on a single long chain."""
    g = torch.Generator().manual_seed(n)
    maps = [torch.randint(0, n, (n,), generator=g) for _ in range(20)]
    chain = torch.randperm(n, generator=g)
    f = torch.empty(n, dtype=torch.long)
    f[chain[:-1]] = chain[1:]
    f[chain[-1]] = chain[-1]  # one path of length n - 1 into a self-loop
    for f_ in maps + [f]:
        got = functional_graph_components(f_)
        assert got.tolist() == _components_by_walking(f_.tolist())
        assert int(num_components(got)) == len(set(got.tolist()))
