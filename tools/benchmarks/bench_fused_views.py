# Copyright (c) csml_mm contributors. All rights reserved.
"""CsMl with its image sets stacked into one backbone pass, against one pass per set.

A CsMl step encodes three query sets (anchor, neighbour, CutMix image) with gradients and two
key sets (anchor, neighbour) without. With ``fuse_views=True`` and a SplitBN backbone, the
query sets go through the backbone as one stacked batch and the key sets as another, and
``grouped_batch_norm`` gives every set the batch statistics of a pass of its own (the test
``test_stacked_views_equal_separate_passes``). This script times one whole training step
(data preprocessor, encoders, loss, SGD) of a Fashion-MNIST config both ways, side by side in
one process, and prints the ratio and the loss difference of the first step.

Examples::

    python tools/benchmarks/bench_fused_views.py
    python tools/benchmarks/bench_fused_views.py --config \\
        configs/csml/csml_resnet18-w16_1xb128-coslr-2e_fmnist.py --steps 20
"""

import argparse
import os.path as osp
import sys
from typing import Dict

import numpy as np
import torch
from _timing import median_seconds

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
sys.path.insert(0, ROOT)

DEFAULT_CFG = 'configs/csml/csml_resnet18-w16-multilevel_1xb128-coslr-2e_fmnist.py'


def bench(config: str, steps: int, warmup: int, batch: int = 0) -> Dict[str, float]:
    """Median step seconds per form (``'separate'``, ``'stacked'``) and the first-step losses."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample

    import csml_mm  # noqa: F401

    init_default_scope('mmpretrain')
    cfg = Config.fromfile(config if osp.isabs(config) else osp.join(ROOT, config))
    model_cfg = cfg.model
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    b = batch or cfg.train_dataloader.batch_size
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (b, 3, 32, 32), dtype=torch.uint8, generator=g)
    data = dict(inputs=[images, images.roll(1, 0)], data_samples=[DataSample() for _ in range(b)])
    out: Dict[str, float] = {}
    state = None
    for name, fuse in (('separate', False), ('stacked', True)):
        torch.manual_seed(0)
        model = MODELS.build(dict(model_cfg, fuse_views=fuse))
        model.init_weights()
        if state is None:
            state = {k: v.clone() for k, v in model.state_dict().items()}
        model.load_state_dict(state)
        model.train()
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
        torch.manual_seed(1)
        np.random.seed(1)
        losses = model.train_step(data, optim)
        out[f'{name}_loss'] = float(losses['loss'])
        out[name] = median_seconds(lambda: model.train_step(data, optim), steps, warmup)
    return out


def main(argv=None) -> Dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--config', default=DEFAULT_CFG, help='a CsMl config with a SplitBN backbone')
    p.add_argument('--batch', type=int, default=0, help="batch size (default: the config's)")
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--warmup', type=int, default=2)
    args = p.parse_args(argv)
    r = bench(args.config, args.steps, args.warmup, args.batch)
    print(f'one CsMl training step of {args.config} ({torch.get_num_threads()} threads)')
    print(f'  one pass per image set   {r["separate"] * 1e3:8.1f} ms')
    print(f'  stacked sets             {r["stacked"] * 1e3:8.1f} ms')
    print(
        f'  stacked / separate: {r["stacked"] / r["separate"]:.3f}   '
        f'|first-step loss diff| {abs(r["stacked_loss"] - r["separate_loss"]):.2e}'
    )
    return r


if __name__ == '__main__':
    main()
