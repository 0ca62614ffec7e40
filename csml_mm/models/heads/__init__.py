from .knn_weak_label_head import KNNWeakLabelHead  # noqa: F401
from .multi_positive_contrastive_head import MultiPositiveContrastiveHead

__all__ = ['MultiPositiveContrastiveHead']
