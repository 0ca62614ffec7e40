"""Transforms of csml_mm, registered in ``mmpretrain.registry.TRANSFORMS``."""
from .geometry import RandomResizedCropWithBox
from .multi_view import MultiViewWithKeys
from .patch_sampling import (SelectivePatchSampling, SparsePatchSampling, covered_fraction,
                             patch_grid, sample_views, sample_without_replacement,
                             selection_probabilities, selection_weights, sparse_patch_ids)

__all__ = [
    'RandomResizedCropWithBox', 'MultiViewWithKeys', 'SparsePatchSampling',
    'SelectivePatchSampling', 'covered_fraction', 'patch_grid', 'sample_views',
    'sample_without_replacement', 'selection_probabilities', 'selection_weights',
    'sparse_patch_ids'
]
