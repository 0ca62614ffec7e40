from .multi_positive_contrastive_head import MultiPositiveContrastiveHead
from .knn_weak_label_head import KNNWeakLabelHead  # noqa: F401

__all__ = ['MultiPositiveContrastiveHead']
