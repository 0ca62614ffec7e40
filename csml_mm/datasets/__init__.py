# Copyright (c) csml_mm contributors. All rights reserved.
"""Datasets of csml_mm, registered in ``mmpretrain.registry.DATASETS``."""

from .digits import Digits, DigitsComposite
from .fashion_mnist import FashionMNISTGz
from .neighbour_views import NeighbourViewsDataset
from .pipeline_switch import PipelineSwitch  # noqa: F401
from .transforms import *  # noqa: F401,F403

__all__ = ['Digits', 'DigitsComposite', 'FashionMNISTGz', 'NeighbourViewsDataset']
