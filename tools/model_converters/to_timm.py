"""Export an mmpretrain ``VisionTransformer`` backbone as a timm ViT state dict.

Usage::

    python tools/model_converters/to_timm.py work_dirs/aps/epoch_1600.pth vit_timm.pth \
        --num-heads 3

The tool prints the ``timm.models.vision_transformer.VisionTransformer(...)`` arguments
that the weights need (derived from the tensor shapes; ``num_heads`` cannot be seen in
the shapes: pass ``--num-heads`` or let the tool read it from the config stored in a
training checkpoint). Load with ``model.load_state_dict(sd, strict=False)`` (the
classifier ``head`` is not exported) or build the model with ``num_classes=0``.

Renaming (mmpretrain -> timm):

- ``patch_embed.projection`` -> ``patch_embed.proj``; ``pre_norm`` -> ``norm_pre``
- ``layers.i.ln1/ln2`` -> ``blocks.i.norm1/norm2``; ``layers.i.attn.qkv/proj`` -> same
- ``layers.i.ffn.layers.0.0`` -> ``blocks.i.mlp.fc1``; ``layers.i.ffn.layers.1`` -> ``mlp.fc2``
- ``layers.i.attn.gamma1.weight`` / ``ffn.gamma2.weight`` -> ``blocks.i.ls1/ls2.gamma``
- final norm ``ln1`` (``out_type='cls_token'``, ``final_norm=True``) -> ``norm``
  (timm ``global_pool='token'``); ``ln2`` of ``out_type='avg_featmap'`` with
  ``final_norm=False`` -> ``fc_norm`` (timm ``global_pool='avg'``, ``fc_norm=True``).

Both layer norms use ``eps=1e-6`` in mmpretrain's ViT and timm's defaults; a backbone
built with another ``norm_cfg`` eps needs the same eps on the timm side.
"""
import argparse
import math
import os
import os.path as osp
import re
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402
from _common import add_input_args, load_backbone  # noqa: E402

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
    parser.add_argument('--num-heads', type=int, default=None,
                        help='attention heads (only printed in the timm arguments)')
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
        raise ValueError('The backbone has both a final norm (ln1) and an avg-pool norm (ln2; '
                         "out_type='avg_featmap' with final_norm=True); timm applies one of "
                         'them only, so the features would differ.')
    return {rename(k): v.detach().clone() for k, v in state.items()}


def timm_kwargs(state, num_heads=None):
    """The timm ``VisionTransformer`` arguments the converted weights need."""
    embed = int(state['patch_embed.projection.weight'].shape[0])
    patch = int(state['patch_embed.projection.weight'].shape[-1])
    depth = len({int(m.group(1)) for k in state for m in [re.match(r'layers\.(\d+)\.', k)] if m})
    extra = 1 if 'cls_token' in state else 0
    grid = int(round(math.sqrt(state['pos_embed'].shape[1] - extra)))
    kwargs = dict(
        img_size=grid * patch, patch_size=patch, embed_dim=embed, depth=depth,
        num_heads=num_heads if num_heads is not None else '?',
        mlp_ratio=float(state['layers.0.ffn.layers.0.0.weight'].shape[0]) / embed,
        qkv_bias='layers.0.attn.qkv.bias' in state, class_token=bool(extra),
        pre_norm='pre_norm.weight' in state,
        init_values=None if 'layers.0.attn.gamma1.weight' not in state else 1.0,
        num_classes=0)
    if 'ln2.weight' in state:
        kwargs.update(global_pool='avg', fc_norm=True)
    else:
        kwargs.update(global_pool='token', final_norm='ln1.weight' in state)
    return kwargs


def _heads_from_cfg(path):
    """Read ``num_heads`` from the config stored in a training checkpoint, if any."""
    from csml_mm.utils import safe_torch_load
    try:
        cfg_text = safe_torch_load(path, map_location='cpu').get('meta', {}).get('cfg')
        if not cfg_text:
            return None
        m = re.search(r"num_heads['\"]?\s*[=:]\s*(\d+)", cfg_text)
        return int(m.group(1)) if m else None
    except Exception:  # a missing or odd config only loses the hint
        return None


def main(argv=None):
    args = parse_args(argv)
    state, used = load_backbone(args.checkpoint, args.prefix, args.momentum,
                                required=('patch_embed.projection.weight', 'pos_embed',
                                          'layers.0.attn.qkv.weight'),
                                kind='mmpretrain VisionTransformer')
    out = convert(state)
    heads = args.num_heads if args.num_heads is not None else _heads_from_cfg(args.checkpoint)
    kwargs = timm_kwargs(state, heads)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    torch.save(out, args.out)
    print(f'to_timm: mapped {len(out)}/{len(state)} backbone keys ("{used}*") -> {args.out}')
    print('to_timm: timm.models.vision_transformer.VisionTransformer(' +
          ', '.join(f'{k}={v!r}' for k, v in kwargs.items()) + ')')
    return out


if __name__ == '__main__':
    main()
