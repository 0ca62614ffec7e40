from .batch_augment import BatchAugDataPreprocessor
from .connected_components import connected_component_labels  # noqa: F401
from .cutmix import cutmix_pair, sample_cutmix_box
from .ema import HostStepEMA  # noqa: F401
from .neighbour_search import knn_search
from .pretrained_init import PretrainedBackboneInit  # noqa: F401  (registers 'PretrainedBackbone')
from .split_bn import (
    SplitBatchNorm1d,
    SplitBatchNorm2d,
    batch_norms_all_split,
    convert_split_bn,
    grouped_batch_norm,
)

__all__ = [
    'cutmix_pair',
    'sample_cutmix_box',
    'knn_search',
    'SplitBatchNorm2d',
    'SplitBatchNorm1d',
    'convert_split_bn',
    'batch_norms_all_split',
    'grouped_batch_norm',
    'BatchAugDataPreprocessor',
]
