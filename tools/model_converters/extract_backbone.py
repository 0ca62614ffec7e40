"""Write the backbone of a csml_mm training checkpoint to a small, safe file.

Usage::

    python tools/model_converters/extract_backbone.py work_dirs/csml/epoch_200.pth \
        csml_r50_backbone.pth [--momentum]

The output is ``{'state_dict': {<backbone keys without 'backbone.'>}, 'meta': {...}}``
holding only tensors and builtins, so it loads with ``torch.load(weights_only=True)``
and with ``init_cfg=dict(type='Pretrained', checkpoint=OUT)`` (or ``PretrainedBackbone``)
on a backbone module. Optimizer state, message hub, queues and heads are dropped.
"""

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import torch  # noqa: E402

from csml_mm.models.utils.pretrained_init import get_state_dict, select_backbone_state  # noqa: E402,E501
from csml_mm.utils import safe_torch_load  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Extract backbone weights of a checkpoint')
    parser.add_argument('checkpoint', help='an mmengine training checkpoint (epoch_N.pth)')
    parser.add_argument('out', help='output file (.pth)')
    parser.add_argument(
        '--prefix', default='backbone.', help='key prefix of the backbone (default: backbone.)'
    )
    parser.add_argument(
        '--momentum',
        action='store_true',
        help="take the momentum (EMA) encoder's copy of the backbone",
    )
    return parser.parse_args(argv)


def extract(ckpt_path: str, prefix: str = 'backbone.', momentum: bool = False):
    """Return ``(backbone_state_dict, used_prefix, total_keys)`` of a training checkpoint."""
    ckpt = safe_torch_load(ckpt_path, map_location='cpu')
    state = get_state_dict(ckpt, source=ckpt_path)
    if not any(k.startswith(prefix) for k in state):
        raise KeyError(
            f'{ckpt_path} has no "{prefix}*" keys, so it holds no backbone weights to extract '
            f'(its keys start with: {sorted({k.split(".")[0] for k in state})[:10]}). Pass a '
            'training checkpoint of a csml_mm/mmpretrain model, or --prefix for another '
            'layout.'
        )
    backbone, used = select_backbone_state(
        state, prefix=prefix, momentum=momentum, source=ckpt_path
    )
    return {k: v.detach().clone().contiguous() for k, v in backbone.items()}, used, len(state)


def main(argv=None):
    args = parse_args(argv)
    backbone, used, total = extract(args.checkpoint, args.prefix, args.momentum)
    meta = dict(
        source=osp.abspath(args.checkpoint),
        prefix=used,
        num_keys=len(backbone),
        momentum=bool(args.momentum),
    )
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    torch.save(dict(state_dict=backbone, meta=meta), args.out)
    num_params = sum(v.numel() for v in backbone.values())
    print(
        f'extract_backbone: kept {len(backbone)}/{total} keys ("{used}*", '
        f'{num_params / 1e6:.2f}M values) -> {args.out}'
    )
    return backbone


if __name__ == '__main__':
    from csml_mm.utils.cli import cli_errors

    with cli_errors():  # a bad checkpoint or data: one `error: ...` line, exit status 1
        main()
