"""A Vision Transformer that encodes a chosen subset of its patch tokens (for APS)."""

from typing import Optional, Sequence, Union

import torch
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import build_2d_sincos_position_embedding, resize_pos_embed
from mmpretrain.registry import MODELS

from csml_mm.utils.host_checks import host_checks_enabled

_POS_TYPES = ('learned', 'sincos')


def _pair(x: Union[int, Sequence[int]]) -> tuple:
    return (int(x), int(x)) if isinstance(x, int) else tuple(int(v) for v in x)


@MODELS.register_module()
class TokenSubsetViT(VisionTransformer):
    r"""mmpretrain's ``VisionTransformer`` that can encode a subset of patch tokens.

    ``forward(x, patch_ids)`` embeds all patches, adds their position
    embeddings, **then** keeps the tokens listed in ``patch_ids`` ([B, n],
    row-major patch indices; any order, the output does not depend on it) and
    prepends the class token; ``patch_ids=None`` encodes all tokens. This is the
    encoder of APS (Shen et al., arXiv 2306.02854): with ``S`` the chosen ids,

    .. math::
        z_0 = [\,c + \delta\,e_{\mathrm{cls}};\ (E x_s + e_s)_{s \in S}\,],

    where :math:`\delta = 1` if ``cls_pos_embed`` else 0.

    The parameters and their names are those of
    :class:`mmpretrain.models.backbones.VisionTransformer` (a subclass adds no
    parameter or buffer), so a checkpoint's ``backbone.*`` weights load into
    mmpretrain's ``VisionTransformer`` (fine-tuning) and into mmdet ViT
    backbones that follow mmpretrain's layout, and back.

    Position embedding of the class token: ``pos_embed`` keeps mmpretrain's
    shape [1, 1 + N, D]. With ``cls_pos_embed=False`` (APS: the class token has
    no position) row 0 is kept at zero: it is not used in ``forward`` (so it
    gets no gradient), it is zeroed at initialisation, and when a state dict
    with a non-zero row 0 is loaded (e.g. from an mmpretrain ViT) that row is
    folded into ``cls_token`` (``cls_token + pos_embed[:, 0]``) and zeroed. In
    both directions the network then computes exactly the same function as
    mmpretrain's ``VisionTransformer`` with the same state dict.

    Args:
        pos_embed_type: ``'learned'`` (APS; truncated normal, std 0.02) or
            ``'sincos'`` (fixed 2-D sin-cos as in MoCo v3, not trainable; the
            class-token row is zero).
        cls_pos_embed: Add ``pos_embed[:, 0]`` to the class token
            (mmpretrain's behaviour). Defaults to False (APS).
        cls_token_std: Std of the truncated-normal init of the class token
            (APS: 0.02; mmpretrain initialises it to zero).
        **kwargs: ``VisionTransformer`` arguments (``arch``, ``img_size``,
            ``patch_size``, ``qkv_bias``, ``norm_cfg``, ``out_type``,
            ``layer_cfgs``, ...). Only keyword arguments are accepted.
    """

    def __init__(
        self,
        pos_embed_type: str = 'learned',
        cls_pos_embed: bool = False,
        cls_token_std: float = 0.02,
        **kwargs,
    ) -> None:
        if pos_embed_type not in _POS_TYPES:
            raise ValueError(
                f'TokenSubsetViT: pos_embed_type must be one of {_POS_TYPES}, got '
                f'{pos_embed_type!r}.'
            )
        img_size = _pair(kwargs.get('img_size', 224))
        patch_size = _pair(kwargs.get('patch_size', 16))
        if img_size[0] % patch_size[0] or img_size[1] % patch_size[1]:
            raise ValueError(
                f'TokenSubsetViT: img_size {img_size} is not divisible by patch_size '
                f'{patch_size}; the patch grid (and the patch ids of the samplers) needs '
                'whole patches. Change img_size or patch_size.'
            )
        super().__init__(**kwargs)
        self.pos_embed_type = pos_embed_type
        self.cls_pos_embed = bool(cls_pos_embed)
        self.cls_token_std = float(cls_token_std)
        if pos_embed_type == 'sincos':
            self._fill_sincos()
            self.pos_embed.requires_grad = False
        elif self._unused_cls_row():
            with torch.no_grad():
                self.pos_embed[:, 0].zero_()
        # Runs after mmpretrain's own pre-hook (which resizes pos_embed if needed).
        self._register_load_state_dict_pre_hook(self._fold_cls_pos_embed)

    def _unused_cls_row(self) -> bool:
        return self.num_extra_tokens == 1 and not self.cls_pos_embed

    def _fill_sincos(self) -> None:
        table = build_2d_sincos_position_embedding(
            self.patch_resolution, self.embed_dims, cls_token=self.num_extra_tokens == 1
        )
        with torch.no_grad():
            self.pos_embed.copy_(table.to(self.pos_embed))

    def init_weights(self) -> None:
        super().init_weights()
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            return
        with torch.no_grad():
            if self.pos_embed_type == 'sincos':
                self._fill_sincos()
            elif self._unused_cls_row():
                self.pos_embed[:, 0].zero_()
            if self.cls_token is not None and self.cls_token_std > 0:
                trunc_normal_(self.cls_token, std=self.cls_token_std)

    def _fold_cls_pos_embed(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        pos_key, cls_key = prefix + 'pos_embed', prefix + 'cls_token'
        if not self._unused_cls_row() or pos_key not in state_dict or cls_key not in state_dict:
            return
        pos = state_dict[pos_key]
        if pos.shape[1] != self.pos_embed.shape[1] or not pos[:, 0].abs().max() > 0:
            return
        state_dict[cls_key] = state_dict[cls_key] + pos[:, :1]
        pos = pos.clone()
        pos[:, 0] = 0
        state_dict[pos_key] = pos

    def forward(self, x: torch.Tensor, patch_ids: Optional[torch.Tensor] = None) -> tuple:
        """Encode all patch tokens, or the ones in ``patch_ids`` ([B, n] long)."""
        batch = x.shape[0]
        x, patch_resolution = self.patch_embed(x)
        pos = resize_pos_embed(
            self.pos_embed,
            self.patch_resolution,
            patch_resolution,
            mode=self.interpolate_mode,
            num_extra_tokens=self.num_extra_tokens,
        )
        x = x + pos[:, self.num_extra_tokens :]
        if patch_ids is not None:
            if self.out_type == 'featmap':
                raise ValueError(
                    "TokenSubsetViT: out_type='featmap' needs every patch; use "
                    "'cls_token', 'avg_featmap' or 'raw' with patch_ids."
                )
            x = self._gather(x, patch_ids)
        if self.cls_token is not None:
            cls = self.cls_token.expand(batch, -1, -1)
            if self.cls_pos_embed:
                cls = cls + pos[:, :1]
            x = torch.cat((cls, x), dim=1)
        x = self.drop_after_pos(x)
        x = self.pre_norm(x)
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._format_output(x, patch_resolution))
        return tuple(outs)

    @staticmethod
    def _gather(x: torch.Tensor, patch_ids: torch.Tensor) -> torch.Tensor:
        batch, num_patches, dims = x.shape
        if patch_ids.dim() != 2 or patch_ids.shape[0] != batch:
            raise ValueError(f'patch_ids must be [batch={batch}, n]; got {tuple(patch_ids.shape)}.')
        if patch_ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f'patch_ids must be an integer tensor, got {patch_ids.dtype}.')
        if (
            host_checks_enabled(patch_ids)
            and patch_ids.numel()
            and (patch_ids.min() < 0 or patch_ids.max() >= num_patches)
        ):
            raise ValueError(
                f'patch_ids must lie in [0, {num_patches}) (the patch grid of this '
                f'input); got [{int(patch_ids.min())}, {int(patch_ids.max())}].'
            )
        index = patch_ids.long().to(x.device).unsqueeze(-1).expand(-1, -1, dims)
        return torch.gather(x, 1, index)
