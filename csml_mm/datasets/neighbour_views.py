"""A dataset wrapper that returns an anchor's views and one neighbour's views."""

import copy
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS, TRANSFORMS
from torch.utils.data import Dataset


@DATASETS.register_module()
class NeighbourViewsDataset(Dataset):
    """Wrap a dataset so that each item holds the views of an anchor and of one of
    its K nearest neighbours (CsMl's cross-sample positives).

    Item ``i``: ``pipeline`` (which must end in a multi-view transform producing a
    list of 2 images) runs on image ``i`` and on image ``j``, drawn uniformly from
    row ``i`` of the neighbour table at every access; the image lists are
    concatenated to ``[anchor_q, anchor_k, neighbour_q, neighbour_k]`` and packed.
    The data sample carries ``sample_idx`` (metainfo) and ``neighbour_idx``.

    The table is a [N, K] tensor in shared memory, filled by
    ``NeighbourMiningHook``: dataloader workers (also persistent ones) share it,
    so they see every update. Until it is filled, accessing an item is an error.

    Args:
        dataset: The image dataset (config or object); its own pipeline should
            be empty: the views come from ``pipeline``.
        pipeline: Per-image transforms producing ``img`` as a list of 2 views.
        num_neighbours: K (the CsMl code: 5).
        pack: The packing transform.
        with_neighbour: False returns the anchor's views only (MoCo parity runs).
    """

    def __init__(
        self,
        dataset: Union[dict, BaseDataset],
        pipeline: Sequence[dict],
        num_neighbours: int = 5,
        pack: Optional[dict] = None,
        with_neighbour: bool = True,
    ) -> None:
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        n = len(self.dataset)
        if n == 0:
            raise ValueError(
                'NeighbourViewsDataset: the wrapped dataset is empty; check its data_root/ann_file.'
            )
        if not 0 < num_neighbours < n:
            raise ValueError(
                f'num_neighbours={num_neighbours} must be between 1 and the '
                f'dataset size minus one ({n - 1}).'
            )
        self.num_neighbours = int(num_neighbours)
        self.with_neighbour = with_neighbour
        self.pipeline = Compose(
            [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        )
        pack = pack or dict(type='PackInputs', algorithm_keys=['neighbour_idx'])
        self.pack = TRANSFORMS.build(pack)
        self.neighbours = torch.full((n, self.num_neighbours), -1, dtype=torch.long)
        self.neighbours.share_memory_()

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(getattr(self.dataset, 'metainfo', {}))

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def has_neighbours(self) -> bool:
        return bool((self.neighbours[:, 0] >= 0).all())

    def set_neighbours(self, table: torch.Tensor) -> None:
        """Copy a [N, >=K] neighbour table in place (visible to all workers)."""
        table = torch.as_tensor(table, dtype=torch.long).cpu()
        n = len(self)
        if table.dim() != 2 or table.shape[0] != n or table.shape[1] < self.num_neighbours:
            raise ValueError(
                f'neighbour table must be [{n}, >={self.num_neighbours}], got {tuple(table.shape)}.'
            )
        table = table[:, : self.num_neighbours]
        if table.min() < 0 or table.max() >= n:
            raise ValueError('neighbour table holds indices outside the dataset.')
        if (table == torch.arange(n).unsqueeze(1)).any():
            raise ValueError('neighbour table lists a sample as its own neighbour.')
        self.neighbours.copy_(table)

    def _views(self, idx: int) -> Dict[str, Any]:
        info = self.dataset.get_data_info(idx)
        info.setdefault('sample_idx', idx)
        out = self.pipeline(info)
        if out is None or not isinstance(out.get('img'), list):
            raise ValueError(
                'NeighbourViewsDataset: the pipeline must produce a list of views '
                "in 'img' (end it with MultiView(num_views=2, ...))."
            )
        return out

    def __getitem__(self, idx: int) -> Dict[str, Any]:
        anchor = self._views(idx)
        if self.with_neighbour:
            row = self.neighbours[idx]
            if row[0] < 0:
                raise RuntimeError(
                    'NeighbourViewsDataset: the neighbour table is not set. Add '
                    "dict(type='NeighbourMiningHook', ...) to custom_hooks (it mines before "
                    'the first epoch), or set with_neighbour=False.'
                )
            j = int(row[np.random.randint(self.num_neighbours)])
            other = self._views(j)
            anchor['img'] = list(anchor['img']) + list(other['img'])
            anchor['neighbour_idx'] = j
        else:
            anchor['neighbour_idx'] = -1
        anchor['sample_idx'] = idx
        return self.pack(anchor)

    def get_gt_labels(self) -> np.ndarray:
        return self.dataset.get_gt_labels()


def find_neighbour_dataset(dataset: Dataset) -> Optional[NeighbourViewsDataset]:
    """Unwrap mmengine dataset wrappers down to a :class:`NeighbourViewsDataset`."""
    seen: List[int] = []
    while dataset is not None and id(dataset) not in seen:
        if isinstance(dataset, NeighbourViewsDataset):
            return dataset
        seen.append(id(dataset))
        dataset = getattr(dataset, 'dataset', None)
    return None
