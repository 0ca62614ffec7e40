"""Helpers shared by the checkpoint converters in this folder."""

import os.path as osp
import re
import sys
from typing import Dict, List, Tuple

_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import torch  # noqa: E402

from csml_mm.models.utils.pretrained_init import load_backbone_checkpoint  # noqa: E402

Tensors = Dict[str, torch.Tensor]


def add_input_args(parser) -> None:
    parser.add_argument(
        'checkpoint',
        help='a training checkpoint (epoch_N.pth) or the output of extract_backbone.py',
    )
    parser.add_argument('out', help='output file')
    parser.add_argument(
        '--prefix',
        default='backbone.',
        help='backbone key prefix in a training checkpoint (default: backbone.)',
    )
    parser.add_argument(
        '--momentum',
        action='store_true',
        help="convert the momentum (EMA) encoder's backbone instead",
    )


def load_backbone(
    path: str,
    prefix: str = 'backbone.',
    momentum: bool = False,
    required: Tuple[str, ...] = (),
    kind: str = 'backbone',
) -> Tuple[Tensors, str]:
    """Load the backbone tensors of ``path`` and check that ``required`` keys exist."""
    state, used = load_backbone_checkpoint(path, prefix=prefix, momentum=momentum)
    missing = [k for k in required if k not in state]
    if missing:
        sample = sorted(state)[:6]
        raise KeyError(
            f'{path} holds no {kind} weights: {missing} not found (no "{prefix}*" keys were '
            f'present, or they belong to another architecture; first keys: {sample}). Pass a '
            'training checkpoint of a model with this backbone, or its extract_backbone.py '
            'output.'
        )
    return state, used


def resnet_layout(state: Tensors, path: str = '<checkpoint>') -> Tuple[str, List[int], int]:
    """Return ``(block_type, blocks_per_stage, stem_width)`` of a ResNet state dict."""
    if any(k.startswith('stem.') for k in state):
        raise ValueError(
            f'{path}: a deep-stem ResNet (ResNetV1c/d) has no torchvision or '
            'detectron2 counterpart with the same keys.'
        )
    blocks: Dict[int, set] = {}
    for key in state:
        m = re.match(r'layer(\d)\.(\d+)\.', key)
        if m:
            blocks.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    if sorted(blocks) != [1, 2, 3, 4]:
        raise ValueError(f'{path}: expected ResNet stages layer1..layer4, found {sorted(blocks)}.')
    block = 'Bottleneck' if 'layer1.0.conv3.weight' in state else 'BasicBlock'
    return block, [len(blocks[i]) for i in (1, 2, 3, 4)], int(state['conv1.weight'].shape[0])


#: (block type, blocks per stage) -> torchvision constructor name.
TORCHVISION_RESNETS = {
    ('BasicBlock', (2, 2, 2, 2)): 'resnet18',
    ('BasicBlock', (3, 4, 6, 3)): 'resnet34',
    ('Bottleneck', (3, 4, 6, 3)): 'resnet50',
    ('Bottleneck', (3, 4, 23, 3)): 'resnet101',
    ('Bottleneck', (3, 8, 36, 3)): 'resnet152',
}
