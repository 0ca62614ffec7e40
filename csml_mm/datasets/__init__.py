# Copyright (c) csml_mm contributors. All rights reserved.
"""Datasets of csml_mm, registered in ``mmpretrain.registry.DATASETS``."""
from .digits import Digits, DigitsComposite
from .neighbour_views import NeighbourViewsDataset

__all__ = ['Digits', 'DigitsComposite', 'NeighbourViewsDataset']
