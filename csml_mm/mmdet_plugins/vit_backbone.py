"""A plain ViT backbone for mmdet detectors, with mmpretrain's parameter layout."""

from typing import Tuple

import torch
from mmdet.registry import MODELS
from mmpretrain.models.backbones import VisionTransformer


@MODELS.register_module()
class DetVisionTransformer(VisionTransformer):
    """mmpretrain's ``VisionTransformer`` returning patch-token feature maps for mmdet.

    The plain-ViT backbone of ViTDet (Li et al., "Exploring Plain Vision Transformer
    Backbones for Object Detection", ECCV 2022): the image is cut into ``p x p`` patches,
    encoded by the transformer, and the patch tokens of the chosen layers are returned
    as maps ``[B, D, H/p, W/p]`` (one map of stride ``p`` for ``out_indices=-1``); a
    neck such as :class:`SimpleFeaturePyramid` builds the multi-scale pyramid.

    The class adds no parameter or buffer, so its ``state_dict`` keys are exactly those
    of :class:`mmpretrain.models.backbones.VisionTransformer` (``patch_embed.*``,
    ``cls_token``, ``pos_embed``, ``layers.N.*``, ``ln1.*``) and a csml_mm ViT
    checkpoint (APS's ``TokenSubsetViT`` uses the same names) loads without renaming.

    Input sizes: the position embedding keeps the shape of ``img_size`` (set it to the
    pretraining size, e.g. 224, so the checkpoint loads as it is) and is resized
    (``interpolate_mode``, bicubic by default) in every forward pass to the patch grid
    of the actual input, as mmpretrain's ``VisionTransformer.forward`` does. Inputs
    whose sides are not multiples of ``p`` are padded by the patch embedding.

    Args:
        **kwargs: ``VisionTransformer`` arguments (``arch``, ``img_size``,
            ``patch_size``, ``out_indices``, ``drop_path_rate``, ``with_cls_token``,
            ``final_norm``, ``frozen_stages``, ``init_cfg`` ...). ``out_type`` is fixed
            to ``'featmap'``.
    """

    def __init__(self, **kwargs) -> None:
        out_type = kwargs.pop('out_type', 'featmap')
        if out_type != 'featmap':
            raise ValueError(
                f'DetVisionTransformer returns feature maps for detection; out_type must be '
                f"'featmap' (or left out), got {out_type!r}."
            )
        super().__init__(out_type='featmap', **kwargs)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Return the patch-token maps ``[B, D, ceil(H/p), ceil(W/p)]`` of ``out_indices``."""
        if x.dim() != 4:
            raise ValueError(
                f'DetVisionTransformer expects images [B, C, H, W], got shape {tuple(x.shape)}.'
            )
        return super().forward(x)
