# Copyright (c) csml_mm contributors. All rights reserved.
"""Evaluation protocols for self-supervised representations."""

from .features import backbone_last_stage_features, extract_features
from .knn import knn_accuracy, knn_classify
from .linear import fit_linear_probe, linear_probe_accuracy

__all__ = [
    'knn_classify',
    'knn_accuracy',
    'extract_features',
    'backbone_last_stage_features',
    'fit_linear_probe',
    'linear_probe_accuracy',
]
