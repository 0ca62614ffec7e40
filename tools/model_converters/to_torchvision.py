"""Export a csml_mm / mmpretrain ResNet backbone as a torchvision ResNet state dict.

Usage::

    python tools/model_converters/to_torchvision.py work_dirs/csml/epoch_200.pth r50_tv.pth

then, in plain PyTorch::

    model = torchvision.models.resnet50()
    missing, unexpected = model.load_state_dict(torch.load('r50_tv.pth'), strict=False)
    # missing == ['fc.weight', 'fc.bias'] unless --with-head was used

mmpretrain's ``ResNet`` (``style='pytorch'``, stride on the 3x3 conv) uses torchvision's
key names (``conv1``, ``bn1``, ``layerN.i.convK``/``bnK``, ``downsample.0/1``), so the
backbone keys are copied with the ``backbone.`` prefix removed. ``--with-head`` also
copies a linear head (``head.fc.*`` of a linear-probe checkpoint) to ``fc.*``.

CIFAR stem (mmpretrain ``ResNet_CIFAR``: 3x3 ``conv1`` with stride 1, no max-pool): the
keys are the same, but ``torchvision.models.resnetXX()`` has a 7x7 stride-2 ``conv1`` and a
max-pool, so it cannot take these weights. The tool recognises the stem from the weights
(``conv1.weight`` is 3x3) and from the config stored in a training checkpoint (backbone
``type='ResNet_CIFAR'``), and prints the code that builds the matching torchvision model::

    model = torchvision.models.resnet18()
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    model.fc = nn.Identity()  # no head exported: the model returns the pooled features
    model.load_state_dict(torch.load('r18_tv.pth', weights_only=True))

A 3x3 ``conv1`` whose stored config names another backbone type is refused (its stride
and pooling are unknown).
"""

import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402
from _common import TORCHVISION_RESNETS, add_input_args, load_backbone, resnet_layout  # noqa: E402,E501
from _stored_cfg import OPAQUE, stored_backbone_cfg  # noqa: E402

from csml_mm.models.utils.pretrained_init import get_state_dict  # noqa: E402
from csml_mm.utils import safe_torch_load  # noqa: E402

#: mmpretrain ResNet types with the CIFAR stem (3x3 stride-1 conv, no max-pool).
CIFAR_STEM_TYPES = ('ResNet_CIFAR', 'mmpretrain.ResNet_CIFAR')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='mmpretrain ResNet -> torchvision ResNet')
    add_input_args(parser)
    parser.add_argument(
        '--with-head',
        action='store_true',
        help='also export head.fc.* (linear probe / fine-tune checkpoints) as fc.*',
    )
    return parser.parse_args(argv)


def convert(state):
    """Map backbone keys (no prefix) to torchvision ResNet keys (the identity, checked)."""
    out = {}
    for key, val in state.items():
        head = key.split('.')[0]
        if head not in ('conv1', 'bn1', 'layer1', 'layer2', 'layer3', 'layer4'):
            raise KeyError(f'Backbone key {key!r} has no torchvision ResNet counterpart.')
        out[key] = val.detach().clone()
    return out


def stem_kind(
    state: Dict[str, torch.Tensor], cfg_type: Optional[str] = None, path: str = '<checkpoint>'
) -> str:
    """``'imagenet'`` (7x7 stride-2 conv1 + max-pool) or ``'cifar'`` (3x3 stride-1, none).

    The kernel size comes from ``conv1.weight``; ``cfg_type`` is the backbone ``type`` of
    the config stored in the checkpoint (``None`` if there is none). Stride and pooling
    are not in the weights: a 3x3 ``conv1`` is taken as mmpretrain's ``ResNet_CIFAR``,
    the only mmpretrain ResNet with that stem, unless the stored config says otherwise.
    """
    kernel = tuple(state['conv1.weight'].shape[-2:])
    if cfg_type is OPAQUE:
        cfg_type = None
    if kernel == (7, 7) and cfg_type not in CIFAR_STEM_TYPES:
        return 'imagenet'
    if kernel == (3, 3) and cfg_type in (None,) + CIFAR_STEM_TYPES:
        return 'cifar'
    raise ValueError(
        f"{path}: conv1 is {kernel[0]}x{kernel[1]} and the stored config's backbone type is "
        f"{cfg_type!r}; the tool knows two stems only: torchvision's (7x7 stride-2 conv1 + "
        'max-pool, mmpretrain ResNet) and the CIFAR stem (3x3 stride-1 conv1, no max-pool, '
        'mmpretrain ResNet_CIFAR). Build the torchvision model by hand with the stem your '
        'backbone used.'
    )


def cifar_build_code(
    name: str, in_channels: int, width: int, out_path: str, num_classes: Optional[int] = None
) -> List[str]:
    """Python lines that build a torchvision ResNet with the CIFAR stem and load ``out_path``.

    Without a head (``num_classes=None``) ``fc`` becomes ``nn.Identity()``, so the weights
    load with ``strict=True`` and the model returns the pooled backbone features.
    """
    ctor_args = '' if num_classes is None else f'num_classes={num_classes}'
    ctor = f'torchvision.models.{name}({ctor_args})'
    lines = [
        'import torch, torch.nn as nn, torchvision',
        f'model = {ctor}',
        f'model.conv1 = nn.Conv2d({in_channels}, {width}, kernel_size=3, stride=1, padding=1, '
        'bias=False)',
        'model.maxpool = nn.Identity()',
    ]
    if num_classes is None:
        lines.append('model.fc = nn.Identity()')
    lines.append(f'model.load_state_dict(torch.load({out_path!r}, weights_only=True))')
    return lines


def _head(path: str) -> Dict[str, torch.Tensor]:
    """``fc.*`` of the linear head (``head.fc.*``) of the checkpoint at ``path``."""
    full = get_state_dict(safe_torch_load(path, map_location='cpu'), path)
    fc = {k[len('head.fc.') :]: v for k, v in full.items() if k.startswith('head.fc.')}
    if set(fc) != {'weight', 'bias'}:
        raise KeyError(
            f'--with-head: {path} has no linear head (head.fc.*); '
            'use a linear-probe or fine-tune checkpoint, or drop --with-head.'
        )
    return {'fc.weight': fc['weight'].clone(), 'fc.bias': fc['bias'].clone()}


def main(argv=None):
    args = parse_args(argv)
    state, used = load_backbone(
        args.checkpoint,
        args.prefix,
        args.momentum,
        required=('conv1.weight', 'bn1.weight', 'layer1.0.conv1.weight'),
        kind='ResNet backbone',
    )
    block, depths, width = resnet_layout(state, args.checkpoint)
    cfg_type = (stored_backbone_cfg(args.checkpoint) or {}).get('type')
    stem = stem_kind(state, cfg_type, args.checkpoint)
    out = convert(state)
    if args.with_head:
        out.update(_head(args.checkpoint))
    name = TORCHVISION_RESNETS.get((block, tuple(depths)))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    torch.save(out, args.out)
    print(
        f'to_torchvision: mapped {len(state)}/{len(state)} backbone keys ("{used}*") '
        f'-> {len(out)} torchvision keys -> {args.out}'
    )
    if name is None or width != 64:
        stem_note = (
            ' and the CIFAR stem (3x3 stride-1 conv1, no max-pool)' if stem == 'cifar' else ''
        )
        print(
            f'to_torchvision: note: {block} {depths} with stem width {width}{stem_note} is '
            'not a standard torchvision ResNet; build torchvision.models.resnet.ResNet with '
            'matching widths to load it.'
        )
    elif stem == 'cifar':
        num_classes = int(out['fc.weight'].shape[0]) if args.with_head else None
        code = cifar_build_code(
            name, int(state['conv1.weight'].shape[1]), width, args.out, num_classes
        )
        print(
            f'to_torchvision: CIFAR stem (3x3 stride-1 conv1, no max-pool): '
            f'torchvision.models.{name}() has a 7x7 stride-2 conv1 and a max-pool and '
            'computes other features. Build the matching model with:'
        )
        print('\n'.join('    ' + line for line in code))
    else:
        print(
            f'to_torchvision: load with torchvision.models.{name}()'
            f'.load_state_dict(sd{"" if args.with_head else ", strict=False"})'
        )
    return out


if __name__ == '__main__':
    from csml_mm.utils.cli import cli_errors

    with cli_errors():  # a bad checkpoint or data: one `error: ...` line, exit status 1
        main()
