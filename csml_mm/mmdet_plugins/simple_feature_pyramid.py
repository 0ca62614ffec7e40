"""ViTDet's simple feature pyramid (a neck for single-scale ViT features)."""

import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmdet.registry import MODELS
from mmengine.model import BaseModule


@MODELS.register_module()
class SimpleFeaturePyramid(BaseModule):
    r"""Multi-scale maps from the single stride-``s`` map of a plain ViT (ViTDet).

    Li et al., "Exploring Plain Vision Transformer Backbones for Object Detection"
    (ECCV 2022), Sec. 3: the last ViT map ``x`` (stride ``s``, ``C`` channels) is
    resampled once per output scale ``r`` (stride ``s / r``):

    - ``r = 2^k > 1``: ``k`` stride-2 2x2 transposed convolutions, halving the channels
      each time, with ``norm + act`` between consecutive ones (``r = 4``: ``C -> C/2 ->
      C/4``);
    - ``r = 1``: the map itself;
    - ``r = 2^{-k} < 1``: ``k`` 2x2 max-poolings of stride 2;

    followed by a 1x1 convolution to ``out_channels`` and a 3x3 convolution, each with
    ``norm`` and no activation. With the default ``scale_factors=(4, 2, 1, 0.5)`` and a
    stride-16 ViT the outputs have strides 4, 8, 16, 32, like an FPN on a ResNet.
    ``num_outs - len(scale_factors)`` extra levels are appended by subsampling the last
    output with stride 2 (``max_pool2d(kernel=1, stride=2)``, as mmdet's ``FPN``
    without extra convolutions and ViTDet's ``LastLevelMaxPool``), so
    ``num_outs=5`` gives the stride-64 level the Mask R-CNN RPN uses.

    Args:
        in_channels: Channels ``C`` of the ViT map (the last element of the input tuple).
        out_channels: Channels of every output level.
        scale_factors: Output scales relative to the input, powers of two, in
            decreasing order.
        num_outs: Number of outputs (``>= len(scale_factors)``).
        norm_cfg: Norm after the convolutions and between transposed convolutions, e.g.
            ``dict(type='mmpretrain.LN2d')`` (ViTDet's channel LayerNorm),
            ``dict(type='SyncBN')`` or ``dict(type='GN', num_groups=32)``. ``None``: no
            norm, convolutions with bias.
        act_cfg: Activation between transposed convolutions (ViTDet: GELU).
        init_cfg: Defaults to Xavier-uniform convolutions (mmdet's FPN).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scale_factors: Sequence[float] = (4.0, 2.0, 1.0, 0.5),
        num_outs: int = 5,
        norm_cfg: Optional[dict] = None,
        act_cfg: dict = dict(type='GELU'),  # noqa: B006 (mmdet style; never mutated)
        init_cfg: Optional[dict] = dict(  # noqa: B006 (mmdet style; never mutated)
            type='Xavier', layer=['Conv2d', 'ConvTranspose2d'], distribution='uniform'
        ),
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        scale_factors = [float(s) for s in scale_factors]
        if not scale_factors:
            raise ValueError('SimpleFeaturePyramid needs at least one scale factor.')
        for s in scale_factors:
            if s <= 0 or abs(math.log2(s) - round(math.log2(s))) > 1e-6:
                raise ValueError(
                    f'SimpleFeaturePyramid: scale factors must be powers of two '
                    f'(e.g. 4, 2, 1, 0.5), got {s}.'
                )
        if any(a <= b for a, b in zip(scale_factors, scale_factors[1:])):
            raise ValueError(
                'SimpleFeaturePyramid: scale_factors must be strictly decreasing '
                f'(fine to coarse), got {tuple(scale_factors)}.'
            )
        if num_outs < len(scale_factors):
            raise ValueError(
                f'num_outs ({num_outs}) must be >= the number of scale factors '
                f'({len(scale_factors)}).'
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale_factors = tuple(scale_factors)
        self.num_outs = num_outs

        self.stages = nn.ModuleList()
        for s in scale_factors:
            k = int(round(math.log2(s)))
            layers: List[nn.Module] = []
            channels = in_channels
            if k > 0:
                if in_channels % (2**k):
                    raise ValueError(
                        f'in_channels {in_channels} is not divisible by {2**k} '
                        f'(scale factor {s} halves the channels {k} times).'
                    )
                for i in range(k):
                    if i > 0:
                        layers.append(self._norm(norm_cfg, channels))
                        layers.append(build_activation_layer(act_cfg))
                    layers.append(nn.ConvTranspose2d(channels, channels // 2, 2, stride=2))
                    channels //= 2
            else:
                layers.extend(nn.MaxPool2d(kernel_size=2, stride=2) for _ in range(-k))
            layers.append(ConvModule(channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None))
            layers.append(
                ConvModule(
                    out_channels, out_channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=None
                )
            )
            self.stages.append(nn.Sequential(*layers))

    @staticmethod
    def _norm(norm_cfg: Optional[dict], channels: int) -> nn.Module:
        return nn.Identity() if norm_cfg is None else build_norm_layer(norm_cfg, channels)[1]

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Map the last backbone output ``[B, C, H, W]`` to ``num_outs`` levels."""
        if isinstance(inputs, torch.Tensor):
            inputs = (inputs,)
        x = inputs[-1]
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'SimpleFeaturePyramid expects a map [B, {self.in_channels}, H, W] '
                f'(in_channels), got shape {tuple(x.shape)}.'
            )
        outs = [stage(x) for stage in self.stages]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return tuple(outs)
