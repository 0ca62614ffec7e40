"""Export a ResNet backbone in detectron2's naming (the MoCo detection convention).

Usage::

    python tools/model_converters/to_detectron2.py work_dirs/csml/epoch_200.pth r50_d2.pkl

The output is a pickle ``{'model': {name: numpy array}, '__author__': 'csml_mm',
'matching_heuristics': True}``, the format MoCo's detection configs load with
``MODEL.WEIGHTS r50_d2.pkl`` (``MODEL.RESNETS.STRIDE_IN_1X1 False``, pytorch-style
weights, RGB input with torchvision mean/std; see docs/model_conversion.md).

Renaming (torchvision / mmpretrain -> detectron2):

- ``conv1`` -> ``stem.conv1``; ``bn1`` -> ``stem.conv1.norm``
- ``layerN`` -> ``res{N+1}``; inside a block ``convK`` stays, ``bnK`` -> ``convK.norm``
- ``downsample.0`` -> ``shortcut``; ``downsample.1`` -> ``shortcut.norm``
- ``num_batches_tracked`` buffers are dropped (detectron2's FrozenBN has none).
"""

import argparse
import os
import os.path as osp
import pickle
import re
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from _common import add_input_args, load_backbone, resnet_layout  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='mmpretrain ResNet -> detectron2 (MoCo style)')
    add_input_args(parser)
    return parser.parse_args(argv)


def rename(key: str) -> str:
    """detectron2 name of one torchvision-style ResNet key."""
    m = re.match(r'(conv1|bn1)\.(.+)$', key)
    if m:
        return (
            f'stem.conv1.{m.group(2)}' if m.group(1) == 'conv1' else f'stem.conv1.norm.{m.group(2)}'
        )
    m = re.match(r'layer([1-4])\.(\d+)\.(.+)$', key)
    if not m:
        raise KeyError(f'Backbone key {key!r} has no detectron2 ResNet counterpart.')
    stage, block, rest = int(m.group(1)) + 1, m.group(2), m.group(3)
    sub = re.match(r'(conv|bn)([1-3])\.(.+)$', rest)
    if sub:
        kind, idx, param = sub.groups()
        rest = f'conv{idx}.{param}' if kind == 'conv' else f'conv{idx}.norm.{param}'
    else:
        sub = re.match(r'downsample\.([01])\.(.+)$', rest)
        if not sub:
            raise KeyError(f'Backbone key {key!r} has no detectron2 ResNet counterpart.')
        rest = (
            f'shortcut.{sub.group(2)}' if sub.group(1) == '0' else f'shortcut.norm.{sub.group(2)}'
        )
    return f'res{stage}.{block}.{rest}'


def convert(state):
    """Return ``{detectron2 name: numpy array}`` for a ResNet backbone state dict."""
    return {
        rename(k): v.detach().cpu().numpy()
        for k, v in state.items()
        if not k.endswith('num_batches_tracked')
    }


def main(argv=None):
    args = parse_args(argv)
    state, used = load_backbone(
        args.checkpoint,
        args.prefix,
        args.momentum,
        required=('conv1.weight', 'bn1.weight', 'layer1.0.conv1.weight'),
        kind='ResNet backbone',
    )
    block, depths, _ = resnet_layout(state, args.checkpoint)
    model = convert(state)
    dropped = len(state) - len(model)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'wb') as f:
        pickle.dump({'model': model, '__author__': 'csml_mm', 'matching_heuristics': True}, f)
    print(
        f'to_detectron2: mapped {len(model)}/{len(state)} backbone keys ("{used}*"; '
        f'{dropped} num_batches_tracked dropped) of a {block} ResNet {depths} -> {args.out}'
    )
    return model


if __name__ == '__main__':
    from csml_mm.utils.cli import cli_errors

    with cli_errors():  # a bad checkpoint or data: one `error: ...` line, exit status 1
        main()
