"""Backbones of csml_mm (registered into mmpretrain.registry.MODELS)."""

from .token_subset_vit import TokenSubsetViT

__all__ = ['TokenSubsetViT']
