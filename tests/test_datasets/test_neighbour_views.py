"""NeighbourViewsDataset: four views, table validation, workers see table updates."""

import pytest
import torch
from mmengine.dataset import default_collate
from mmengine.registry import init_default_scope
from torch.utils.data import DataLoader

import csml_mm  # noqa: F401
from csml_mm.datasets.neighbour_views import NeighbourViewsDataset

init_default_scope('mmpretrain')

VIEW = [dict(type='RandomResizedCrop', scale=16, crop_ratio_range=(0.5, 1.0), backend='pillow')]


def make(n=12, k=3):
    return NeighbourViewsDataset(
        dataset=dict(type='Digits', split='train', indices=n),
        pipeline=[dict(type='MultiView', num_views=2, transforms=[VIEW])],
        num_neighbours=k,
    )


def test_four_views_and_neighbour_from_table():
    ds = make()
    with pytest.raises(RuntimeError, match='NeighbourMiningHook'):
        ds[0]
    table = torch.stack([(torch.arange(3) + i + 1) % 12 for i in range(12)])
    ds.set_neighbours(table)
    for i in range(12):
        item = ds[i]
        assert len(item['inputs']) == 4
        assert all(v.shape == (3, 16, 16) for v in item['inputs'])
        assert item['data_samples'].sample_idx == i
        assert item['data_samples'].neighbour_idx in table[i].tolist()


def test_table_validation():
    ds = make()
    with pytest.raises(ValueError, match=r'must be \[12, >=3\]'):
        ds.set_neighbours(torch.zeros(11, 3, dtype=torch.long))
    with pytest.raises(ValueError, match='own neighbour'):
        ds.set_neighbours(torch.arange(12).unsqueeze(1).repeat(1, 3))
    with pytest.raises(ValueError, match='outside the dataset'):
        ds.set_neighbours(torch.full((12, 3), 12))
    with pytest.raises(ValueError, match='num_neighbours=12'):
        make(k=12)


def test_persistent_workers_see_new_table():
    ds = make(n=8, k=1)
    first = (torch.arange(8) + 1) % 8
    ds.set_neighbours(first.unsqueeze(1))
    loader = DataLoader(
        ds, batch_size=8, num_workers=1, persistent_workers=True, collate_fn=default_collate
    )
    batch = next(iter(loader))
    assert [s.neighbour_idx for s in batch['data_samples']] == first.tolist()
    second = (torch.arange(8) + 3) % 8
    ds.set_neighbours(second.unsqueeze(1))  # the hook updates in place after workers exist
    batch = next(iter(loader))
    assert [s.neighbour_idx for s in batch['data_samples']] == second.tolist()
