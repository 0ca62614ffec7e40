from .cutmix import cutmix_pair, sample_cutmix_box
from .neighbour_search import knn_search

__all__ = ['cutmix_pair', 'sample_cutmix_box', 'knn_search']
