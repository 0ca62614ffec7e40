"""Projection heads for several backbone stages at once."""

from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


@MODELS.register_module()
class MultiLevelProjectionNeck(BaseModule):
    """Global pooling and an MLP per chosen backbone stage (CsMl/HSA multi-level).

    Level ``l`` maps the stage output ``x_l`` [N, C_l, H, W] to
    ``MLP_l(GAP(x_l))`` [N, out_channels]. The MLP is MoCo v2's
    ``Linear(C_l, hid) - [BN] - ReLU - ... - Linear(hid, out)`` (``num_layers``
    linear layers, biases on, no BN unless ``norm_cfg`` is given). With one level
    and ``num_layers=2`` it has the same structure as mmpretrain's ``MoCoV2Neck``.

    Args:
        in_channels: Channels of each level, in the order of the backbone outputs.
        hid_channels: Hidden width, one for all levels or one per level.
        out_channels: Output dimension (shared, so every level fits a queue of
            the same width).
        num_layers: Linear layers per MLP (>= 1).
        norm_cfg: Optional norm after each hidden linear layer, e.g. ``dict(type='BN1d')``.
        with_avg_pool: Global-average-pool 4-D inputs.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        hid_channels: Union[int, Sequence[int]] = 2048,
        out_channels: int = 128,
        num_layers: int = 2,
        norm_cfg: Optional[dict] = None,
        with_avg_pool: bool = True,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = [int(c) for c in in_channels]
        if not self.in_channels:
            raise ValueError('MultiLevelProjectionNeck needs at least one level in in_channels.')
        hids = (
            [int(hid_channels)] * len(self.in_channels)
            if isinstance(hid_channels, int)
            else [int(h) for h in hid_channels]
        )
        if len(hids) != len(self.in_channels):
            raise ValueError(
                f'hid_channels has {len(hids)} entries for {len(self.in_channels)} levels.'
            )
        if num_layers < 1:
            raise ValueError('num_layers must be >= 1.')
        self.out_channels = out_channels
        self.with_avg_pool = with_avg_pool
        self.mlps = nn.ModuleList(
            self._mlp(c, h, out_channels, num_layers, norm_cfg)
            for c, h in zip(self.in_channels, hids)
        )

    @staticmethod
    def _mlp(cin: int, hid: int, out: int, num_layers: int, norm_cfg: Optional[dict]) -> nn.Module:
        layers: List[nn.Module] = []
        dims = [cin] + [hid] * (num_layers - 1) + [out]
        for i in range(num_layers):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < num_layers - 1:
                if norm_cfg is not None:
                    layers.append(build_norm_layer(norm_cfg, dims[i + 1])[1])
                layers.append(nn.ReLU(inplace=True))
        return nn.Sequential(*layers)

    @property
    def num_levels(self) -> int:
        return len(self.in_channels)

    def forward(self, x: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        if len(x) != self.num_levels:
            raise ValueError(
                f'MultiLevelProjectionNeck expects {self.num_levels} feature maps (one per '
                f'level, in_channels={self.in_channels}) but the backbone gave {len(x)}: make '
                'backbone.out_indices list exactly the stages of neck.in_channels.'
            )
        outs = []
        for feat, mlp, cin in zip(x, self.mlps, self.in_channels):
            if self.with_avg_pool and feat.dim() == 4:
                feat = feat.mean(dim=(2, 3))
            if feat.shape[1] != cin:
                raise ValueError(f'A level has {feat.shape[1]} channels, the neck expects {cin}.')
            outs.append(mlp(feat))
        return tuple(outs)
