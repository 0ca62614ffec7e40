from .multi_positive_contrastive_head import MultiPositiveContrastiveHead

__all__ = ['MultiPositiveContrastiveHead']
