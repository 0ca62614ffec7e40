"""Export an mmpretrain ``VisionTransformer`` backbone as a timm ViT state dict.

Usage::

    python tools/model_converters/to_timm.py work_dirs/aps/epoch_1600.pth vit_timm.pth

The tool prints the Python code that builds the matching
``timm.models.vision_transformer.VisionTransformer`` and loads the weights (strictly;
the classifier ``head`` is not exported, so the model is built with ``num_classes=0`` and
returns the pooled features). Most arguments come from the tensor shapes. Two do not:

- ``num_heads``: ``--num-heads``, else the stored config of a training checkpoint
  (``arch=dict(num_heads=...)`` or a preset name such as ``'deit-tiny'`` looked up in
  mmpretrain's ``VisionTransformer.arch_zoo``), else the one preset of ``arch_zoo`` whose
  width, depth and MLP width match the weights (if all such presets agree).
- LayerNorm ``eps``: ``--ln-eps``, else the stored config's ``norm_cfg`` (mmpretrain's
  ViT default is 1e-6; ``norm_cfg=dict(type='LN')`` without eps gives 1e-5; APS's CIFAR
  and digits configs use 1e-5), else 1e-6 with a note. timm's ViT uses 1e-6, so any other
  eps is printed as ``norm_layer=partial(nn.LayerNorm, eps=...)``.

Renaming (mmpretrain -> timm):

- ``patch_embed.projection`` -> ``patch_embed.proj``; ``pre_norm`` -> ``norm_pre``
- ``layers.i.ln1/ln2`` -> ``blocks.i.norm1/norm2``; ``layers.i.attn.qkv/proj`` -> same
- ``layers.i.ffn.layers.0.0`` -> ``blocks.i.mlp.fc1``; ``layers.i.ffn.layers.1`` -> ``mlp.fc2``
- ``layers.i.attn.gamma1.weight`` / ``ffn.gamma2.weight`` -> ``blocks.i.ls1/ls2.gamma``
- final norm ``ln1`` (``out_type='cls_token'``, ``final_norm=True``) -> ``norm``
  (timm ``global_pool='token'``); ``ln2`` of ``out_type='avg_featmap'`` with
  ``final_norm=False`` -> ``fc_norm`` (timm ``global_pool='avg'``, ``fc_norm=True``).
"""

import argparse
import math
import os
import os.path as osp
import re
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from typing import Dict, List, Optional, Tuple  # noqa: E402

import torch  # noqa: E402
from _common import add_input_args, load_backbone  # noqa: E402
from _stored_cfg import stored_backbone_cfg  # noqa: E402

#: LayerNorm eps of mmpretrain's VisionTransformer default ``norm_cfg`` and of timm's ViT.
DEFAULT_EPS = 1e-6
#: eps that mmpretrain's ``build_norm_layer`` uses when ``norm_cfg`` has none.
BUILD_NORM_EPS = 1e-5

_BLOCK_RULES = [
    (r'ln1\.(weight|bias)$', r'norm1.\1'),
    (r'ln2\.(weight|bias)$', r'norm2.\1'),
    (r'attn\.qkv\.(weight|bias)$', r'attn.qkv.\1'),
    (r'attn\.proj\.(weight|bias)$', r'attn.proj.\1'),
    (r'attn\.gamma1\.weight$', r'ls1.gamma'),
    (r'ffn\.layers\.0\.0\.(weight|bias)$', r'mlp.fc1.\1'),
    (r'ffn\.layers\.1\.(weight|bias)$', r'mlp.fc2.\1'),
    (r'ffn\.gamma2\.weight$', r'ls2.gamma'),
]
_TOP_RULES = {
    'cls_token': 'cls_token',
    'pos_embed': 'pos_embed',
    'patch_embed.projection.weight': 'patch_embed.proj.weight',
    'patch_embed.projection.bias': 'patch_embed.proj.bias',
    'pre_norm.weight': 'norm_pre.weight',
    'pre_norm.bias': 'norm_pre.bias',
    'ln1.weight': 'norm.weight',
    'ln1.bias': 'norm.bias',
    'ln2.weight': 'fc_norm.weight',
    'ln2.bias': 'fc_norm.bias',
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='mmpretrain VisionTransformer -> timm ViT')
    add_input_args(parser)
    parser.add_argument(
        '--num-heads',
        type=int,
        default=None,
        help='attention heads (printed in the timm call; default: from the '
        'stored config or the matching mmpretrain arch preset)',
    )
    parser.add_argument(
        '--ln-eps',
        type=float,
        default=None,
        help='LayerNorm eps of the backbone (default: from the stored '
        "config, else 1e-6, mmpretrain's ViT default)",
    )
    return parser.parse_args(argv)


def rename(key: str) -> str:
    """timm name of one mmpretrain VisionTransformer key."""
    if key in _TOP_RULES:
        return _TOP_RULES[key]
    m = re.match(r'layers\.(\d+)\.(.+)$', key)
    if m:
        for pattern, repl in _BLOCK_RULES:
            if re.match(pattern, m.group(2)):
                return f'blocks.{m.group(1)}.' + re.sub(pattern, repl, m.group(2))
    raise KeyError(f'ViT key {key!r} has no timm VisionTransformer counterpart.')


def convert(state):
    """Return the timm state dict of an mmpretrain ViT backbone state dict."""
    if 'ln1.weight' in state and 'ln2.weight' in state:
        raise ValueError(
            'The backbone has both a final norm (ln1) and an avg-pool norm (ln2; '
            "out_type='avg_featmap' with final_norm=True); timm applies one of "
            'them only, so the features would differ.'
        )
    return {rename(k): v.detach().clone() for k, v in state.items()}


def timm_kwargs(state, num_heads=None):
    """The timm ``VisionTransformer`` arguments the converted weights need."""
    embed = int(state['patch_embed.projection.weight'].shape[0])
    patch = int(state['patch_embed.projection.weight'].shape[-1])
    depth = len({int(m.group(1)) for k in state for m in [re.match(r'layers\.(\d+)\.', k)] if m})
    extra = 1 if 'cls_token' in state else 0
    grid = int(round(math.sqrt(state['pos_embed'].shape[1] - extra)))
    kwargs = dict(
        img_size=grid * patch,
        patch_size=patch,
        embed_dim=embed,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=float(state['layers.0.ffn.layers.0.0.weight'].shape[0]) / embed,
        qkv_bias='layers.0.attn.qkv.bias' in state,
        class_token=bool(extra),
        pre_norm='pre_norm.weight' in state,
        init_values=None if 'layers.0.attn.gamma1.weight' not in state else 1.0,
        num_classes=0,
    )
    if 'ln2.weight' in state:
        kwargs.update(global_pool='avg', fc_norm=True)
    else:
        kwargs.update(global_pool='token', final_norm='ln1.weight' in state)
    return kwargs


def _arch_zoo() -> Dict[str, dict]:
    from mmpretrain.models.backbones import VisionTransformer

    return VisionTransformer.arch_zoo


def heads_from_cfg(backbone_cfg: Optional[dict]) -> Optional[int]:
    """``num_heads`` of a stored backbone config: ``arch=dict(num_heads=...)`` or a preset."""
    if backbone_cfg is None:
        return None
    arch = backbone_cfg.get('arch', 'base')  # mmpretrain's default arch
    if isinstance(arch, dict):
        heads = arch.get('num_heads')
    elif isinstance(arch, str):
        heads = _arch_zoo().get(arch.lower(), {}).get('num_heads')
    else:
        heads = None
    return heads if isinstance(heads, int) and not isinstance(heads, bool) else None


def heads_from_presets(state) -> Tuple[Optional[int], List[str]]:
    """``num_heads`` of the ``arch_zoo`` presets whose shapes match the weights.

    Returns ``(heads, preset_names)``; ``heads`` is ``None`` when no preset matches or the
    matching presets disagree.
    """
    embed = int(state['patch_embed.projection.weight'].shape[0])
    depth = len({int(m.group(1)) for k in state for m in [re.match(r'layers\.(\d+)\.', k)] if m})
    ffn = int(state['layers.0.ffn.layers.0.0.weight'].shape[0])
    names = sorted(
        name
        for name, a in _arch_zoo().items()
        if (a.get('embed_dims'), a.get('num_layers'), a.get('feedforward_channels'))
        == (embed, depth, ffn)
    )
    heads = {_arch_zoo()[n]['num_heads'] for n in names}
    return (heads.pop() if len(heads) == 1 else None), names


def eps_from_cfg(backbone_cfg: Optional[dict]) -> Optional[float]:
    """LayerNorm eps of a stored backbone config (``None``: no config, or not a LayerNorm)."""
    if backbone_cfg is None:
        return None
    norm_cfg = backbone_cfg.get('norm_cfg')
    if norm_cfg is None:
        return DEFAULT_EPS
    if not isinstance(norm_cfg, dict) or norm_cfg.get('type') not in ('LN', 'mmpretrain.LN'):
        return None
    eps = norm_cfg.get('eps', BUILD_NORM_EPS)
    return float(eps) if isinstance(eps, (int, float)) and not isinstance(eps, bool) else None


def resolve_settings(
    state,
    backbone_cfg: Optional[dict],
    num_heads: Optional[int] = None,
    eps: Optional[float] = None,
) -> Tuple[Optional[int], float, List[str]]:
    """``(num_heads, eps, notes)`` from the command line, the stored config, the presets."""
    notes = []
    if num_heads is None:
        num_heads = heads_from_cfg(backbone_cfg)
    if num_heads is None:
        num_heads, names = heads_from_presets(state)
        if num_heads is not None:
            notes.append(
                f'num_heads={num_heads} from the mmpretrain arch preset(s) {names} '
                "that match the weights' shapes (no stored config names it); "
                'pass --num-heads if the backbone used another value.'
            )
        else:
            notes.append(
                'num_heads is not in the weights, in a stored config or in a '
                'matching mmpretrain arch preset: pass --num-heads H.'
            )
    if eps is None:
        eps = eps_from_cfg(backbone_cfg)
        if eps is None:
            eps = DEFAULT_EPS
            notes.append(
                f'LayerNorm eps is not in the weights or a stored config; assumed '
                f"{DEFAULT_EPS:g} (mmpretrain's ViT default). APS CIFAR/digits "
                'backbones use 1e-5: pass --ln-eps 1e-5 for those.'
            )
    return num_heads, eps, notes


def timm_build_code(kwargs: dict, eps: float, out_path: str) -> List[str]:
    """Python lines that build the timm ViT of ``kwargs`` with LayerNorm ``eps`` and load
    ``out_path`` strictly."""
    args = [
        'num_heads=<unknown: pass --num-heads>' if k == 'num_heads' and v is None else f'{k}={v!r}'
        for k, v in kwargs.items()
    ]
    lines = ['import torch']
    if eps != DEFAULT_EPS:
        lines += ['import torch.nn as nn', 'from functools import partial']
        args.append(f'norm_layer=partial(nn.LayerNorm, eps={eps!r})')
    lines += [
        'from timm.models.vision_transformer import VisionTransformer',
        f'model = VisionTransformer({", ".join(args)})',
        f'model.load_state_dict(torch.load({out_path!r}, weights_only=True))',
    ]
    return lines


def main(argv=None):
    args = parse_args(argv)
    state, used = load_backbone(
        args.checkpoint,
        args.prefix,
        args.momentum,
        required=('patch_embed.projection.weight', 'pos_embed', 'layers.0.attn.qkv.weight'),
        kind='mmpretrain VisionTransformer',
    )
    out = convert(state)
    heads, eps, notes = resolve_settings(
        state, stored_backbone_cfg(args.checkpoint), args.num_heads, args.ln_eps
    )
    kwargs = timm_kwargs(state, heads)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    torch.save(out, args.out)
    print(f'to_timm: mapped {len(out)}/{len(state)} backbone keys ("{used}*") -> {args.out}')
    for note in notes:
        print(f'to_timm: note: {note}')
    print('to_timm: build the matching timm model with:')
    print('\n'.join('    ' + line for line in timm_build_code(kwargs, eps, args.out)))
    return out


if __name__ == '__main__':
    from csml_mm.utils.cli import cli_errors

    with cli_errors():  # a bad checkpoint or data: one `error: ...` line, exit status 1
        main()
