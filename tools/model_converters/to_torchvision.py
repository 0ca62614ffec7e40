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
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402
from _common import TORCHVISION_RESNETS, add_input_args, load_backbone, resnet_layout  # noqa: E402,E501

from csml_mm.models.utils.pretrained_init import get_state_dict  # noqa: E402
from csml_mm.utils import safe_torch_load  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='mmpretrain ResNet -> torchvision ResNet')
    add_input_args(parser)
    parser.add_argument('--with-head', action='store_true',
                        help='also export head.fc.* (linear probe / fine-tune checkpoints) '
                        'as fc.*')
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


def main(argv=None):
    args = parse_args(argv)
    state, used = load_backbone(args.checkpoint, args.prefix, args.momentum,
                                required=('conv1.weight', 'bn1.weight',
                                          'layer1.0.conv1.weight'), kind='ResNet backbone')
    block, depths, width = resnet_layout(state, args.checkpoint)
    out = convert(state)
    if args.with_head:
        full = get_state_dict(safe_torch_load(args.checkpoint, map_location='cpu'),
                              args.checkpoint)
        fc = {k[len('head.fc.'):]: v for k, v in full.items() if k.startswith('head.fc.')}
        if set(fc) != {'weight', 'bias'}:
            raise KeyError(f'--with-head: {args.checkpoint} has no linear head (head.fc.*); '
                           'use a linear-probe or fine-tune checkpoint, or drop --with-head.')
        out.update({'fc.weight': fc['weight'].clone(), 'fc.bias': fc['bias'].clone()})
    name = TORCHVISION_RESNETS.get((block, tuple(depths)))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    torch.save(out, args.out)
    print(f'to_torchvision: mapped {len(state)}/{len(state)} backbone keys ("{used}*") '
          f'-> {len(out)} torchvision keys -> {args.out}')
    if name is None or width != 64:
        print(f'to_torchvision: note: {block} {depths} with stem width {width} is not a '
              'standard torchvision ResNet; build torchvision.models.resnet.ResNet with '
              'matching widths to load it.')
    else:
        print(f'to_torchvision: load with torchvision.models.{name}()'
              f'.load_state_dict(sd{"" if args.with_head else ", strict=False"})')
    return out


if __name__ == '__main__':
    main()
