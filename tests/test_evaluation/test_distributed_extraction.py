"""Feature extraction + neighbour search under 2 gloo processes: DistributedSampler
padding and duplicate images, checked against brute force in one process."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dataset import DefaultSampler, default_collate
from mmengine.model import BaseDataPreprocessor
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader, Dataset

N, D = 67, 6  # odd: the sampler pads one sample for 2 ranks


def _feats():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, D, generator=g)
    x[10] = x[3]  # a duplicate image
    return x


class _Vectors(Dataset):
    def __init__(self):
        self.x = _feats()

    def __len__(self):
        return N

    def __getitem__(self, i):
        return dict(
            inputs=self.x[i].view(D, 1, 1),
            data_samples=DataSample(metainfo=dict(sample_idx=i)).set_gt_label(i % 3),
        )


class _Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.data_preprocessor = BaseDataPreprocessor()


def _worker(rank, port, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    from csml_mm.evaluation import extract_features
    from csml_mm.models.utils import knn_search

    ds = _Vectors()
    loader = DataLoader(
        ds, batch_size=8, sampler=DefaultSampler(ds, shuffle=False), collate_fn=default_collate
    )
    feats, labels = extract_features(_Model(), loader, feature_fn=lambda m, x: x.flatten(1))
    table = knn_search(feats, 4, chunk_size=16)
    if rank == 0:
        torch.save(dict(feats=feats, labels=labels, table=table), out)
    dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_extraction_and_mining_match_brute_force(tmp_path):
    out = str(tmp_path / 'r.pth')
    mp.spawn(_worker, args=(_free_port(), out), nprocs=2, join=True)
    res = torch.load(out, weights_only=True)
    expected = F.normalize(_feats(), dim=1)
    assert res['feats'].shape == (N, D)  # padding removed, every sample once, in order
    assert torch.allclose(res['feats'], expected, atol=1e-6)
    assert res['labels'].tolist() == [i % 3 for i in range(N)]
    for i in range(N):
        sims = sorted((float(expected[i] @ expected[j]) for j in range(N) if j != i), reverse=True)
        got = res['table'][i].tolist()
        assert i not in got and len(set(got)) == 4
        # the same similarities as brute force (ties, e.g. duplicates, in either order)
        got_sims = [float(expected[i] @ expected[j]) for j in got]
        assert got_sims == pytest.approx(sims[:4], abs=1e-6), i
    assert res['table'][3, 0].item() == 10 and res['table'][10, 0].item() == 3


def _sharded_worker(rank, port, out, budget):
    """Mining's distributed path: each rank keeps its shard; the search is sharded."""
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    from csml_mm.evaluation.features import extract_features_sharded
    from csml_mm.utils.topk_search import topk_neighbours

    ds = _Vectors()
    loader = DataLoader(
        ds, batch_size=8, sampler=DefaultSampler(ds, shuffle=False), collate_fn=default_collate
    )
    ids, feats, labels = extract_features_sharded(
        _Model(), loader, feature_fn=lambda m, x: x.flatten(1)
    )
    sims, nbrs = topk_neighbours(
        feats, 4, ids=ids, sharded=True, memory_budget=budget, max_query_chunk=5
    )
    torch.save(dict(ids=ids, feats=feats, labels=labels, sims=sims, nbrs=nbrs), f'{out}.{rank}')
    dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize('budget', ['64MiB', 3000])  # 3000 bytes: blocks of a few rows
def test_two_process_sharded_mining_matches_brute_force(tmp_path, budget):
    out = str(tmp_path / 'r')
    mp.spawn(_sharded_worker, args=(_free_port(), out, budget), nprocs=2, join=True)
    parts = [torch.load(f'{out}.{r}', weights_only=True) for r in range(2)]
    ids = torch.cat([p['ids'] for p in parts])
    # disjoint shards covering every sample once (the sampler's padding dropped)
    assert sorted(ids.tolist()) == list(range(N))
    assert all(0 < len(p['ids']) < N for p in parts)  # really split
    expected = F.normalize(_feats(), dim=1)
    for p in parts:
        assert torch.allclose(p['feats'], expected[p['ids']], atol=1e-6)
        assert p['labels'].tolist() == [int(i) % 3 for i in p['ids']]
        for row, i in enumerate(p['ids'].tolist()):
            ref = sorted(
                ((float(expected[i] @ expected[j]), j) for j in range(N) if j != i), reverse=True
            )
            got = p['nbrs'][row].tolist()
            assert i not in got and len(set(got)) == 4
            assert [float(expected[i] @ expected[j]) for j in got] == pytest.approx(
                [s for s, _ in ref[:4]], abs=1e-6
            ), i
            assert p['sims'][row].tolist() == pytest.approx([s for s, _ in ref[:4]], abs=1e-5)
    row3 = parts[0]['ids'].tolist().index(3) if 3 in parts[0]['ids'] else None
    holder = parts[0] if row3 is not None else parts[1]
    r = holder['ids'].tolist().index(3)
    assert holder['nbrs'][r, 0].item() == 10  # the duplicate image is found across shards
