"""Transforms of csml_mm, registered in ``mmpretrain.registry.TRANSFORMS``."""

from .checked_loading import CheckedLoadImageFromFile, image_bytes_problem
from .geometry import RandomResizedCropWithBox
from .multi_view import MultiViewWithKeys
from .patch_sampling import (
    SelectivePatchSampling,
    SparsePatchSampling,
    covered_fraction,
    patch_grid,
    sample_views,
    sample_without_replacement,
    selection_probabilities,
    selection_weights,
    sparse_patch_ids,
)

__all__ = [
    'CheckedLoadImageFromFile',
    'image_bytes_problem',
    'RandomResizedCropWithBox',
    'MultiViewWithKeys',
    'SparsePatchSampling',
    'SelectivePatchSampling',
    'covered_fraction',
    'patch_grid',
    'sample_views',
    'sample_without_replacement',
    'selection_probabilities',
    'selection_weights',
    'sparse_patch_ids',
]
