# Copyright (c) csml_mm contributors. All rights reserved.
"""CsMl's loss with the queue as shared negatives, against the masked full matrix.

``MultiPositiveContrastiveHead.loss_shared_negatives`` takes the P positives of each query and
the K queue similarities separately: the per-positive terms are formed on [N, P] and the queue
enters through one log-sum-exp per row. Before, CsMl concatenated them into one [N, P + K]
matrix with a weight and a validity mask of the same size and called ``loss``, which masks,
combines and weights the whole matrix. Both give the same value and gradients (the test
``test_shared_negatives_equals_masked_full_matrix_with_gradients``); this script times them
side by side in one process and prints the ratio, at two levels:

* ``head``: one loss term, forward and backward, at CsMl's shapes (N queries, P positives, a
  queue of K);
* ``step``: a whole CsMl training step (data preprocessor, 3 online and 2 key passes, the
  loss at every level, SGD) of a Fashion-MNIST config, with ``CsMl._term`` switched between
  the two forms.

Examples::

    python tools/benchmarks/bench_contrastive_head.py
    python tools/benchmarks/bench_contrastive_head.py --queue 65536 --batch 32 --steps 20
"""

import argparse
import os.path as osp
import sys
from typing import Sequence

import torch
from _timing import median_seconds

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
sys.path.insert(0, ROOT)

STEP_CFG = 'configs/csml/csml_resnet18-w16-multilevel_1xb128-coslr-2e_fmnist.py'


def masked_full_matrix_term(
    self,
    q: torch.Tensor,
    positives: Sequence[torch.Tensor],
    weights: Sequence[float],
    queue: torch.Tensor,
) -> torch.Tensor:
    """The former ``CsMl._term``: [positives | queue] as one masked matrix."""
    pos = torch.stack([(q * p).sum(dim=1) for p in positives], dim=1)
    sim = torch.cat([pos, q @ queue], dim=1)
    w = torch.zeros_like(sim, dtype=torch.float32)
    valid = torch.ones_like(sim, dtype=torch.bool)
    for j, wj in enumerate(weights):
        w[:, j] = wj
        valid[:, j] = wj > 0
    return self.head.loss(sim, w, valid)


def bench_head(args) -> None:
    from csml_mm.models.algorithms.csml import CsMl
    from csml_mm.models.heads import MultiPositiveContrastiveHead

    g = torch.Generator().manual_seed(0)
    n, k = args.batch, args.queue
    q = torch.nn.functional.normalize(torch.randn(n, args.dim, generator=g), dim=1)
    keys = [
        torch.nn.functional.normalize(torch.randn(n, args.dim, generator=g), dim=1)
        for _ in range(2)
    ]
    queue = torch.nn.functional.normalize(torch.randn(args.dim, k, generator=g), dim=0)
    holder = type('Holder', (), {})()
    holder.head = MultiPositiveContrastiveHead(0.2, 'per_positive')
    forms = {'masked full matrix': masked_full_matrix_term, 'shared negatives': CsMl._term}
    results = {}
    for name, term in forms.items():
        leaf = q.clone().requires_grad_()

        def step():
            leaf.grad = None
            term(holder, leaf, keys, [0.5, 0.5], queue).backward()

        step()
        results[name] = (
            term(holder, leaf, keys, [0.5, 0.5], queue).item(),
            leaf.grad.clone(),
            median_seconds(step, args.steps * 10, args.warmup),
        )
    (v0, g0, t0), (v1, g1, t1) = results.values()
    print(f'head: one loss term, N={n}, P=2, K={k}, dim={args.dim}, forward + backward')
    for name, (_, _, t) in results.items():
        print(f'  {name:20s} {t * 1e3:8.2f} ms')
    print(
        f'  shared / full: {t1 / t0:.3f}   |loss diff| {abs(v0 - v1):.2e}   '
        f'max |grad diff| {(g0 - g1).abs().max().item():.2e}'
    )


def bench_step(args) -> None:
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample

    import csml_mm  # noqa: F401
    from csml_mm.models.algorithms.csml import CsMl

    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, args.config))
    model_cfg = cfg.model
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    b = cfg.train_dataloader.batch_size
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (b, 3, 32, 32), dtype=torch.uint8, generator=g)
    data = dict(inputs=[images, images.roll(1, 0)], data_samples=[DataSample() for _ in range(b)])
    forms = {'masked full matrix': masked_full_matrix_term, 'shared negatives': CsMl._term}
    times = {}
    original = CsMl._term
    try:
        for name, term in forms.items():
            torch.manual_seed(0)
            model = MODELS.build(model_cfg)
            model.init_weights()
            model.train()
            optim = build_optim_wrapper(model, cfg.optim_wrapper)
            CsMl._term = term
            times[name] = median_seconds(
                lambda: model.train_step(data, optim), args.steps, args.warmup
            )
    finally:
        CsMl._term = original
    t0, t1 = times.values()
    print(
        f'step: one CsMl training step of {args.config} (batch {b}, '
        f'{torch.get_num_threads()} threads)'
    )
    for name, t in times.items():
        print(f'  {name:20s} {t * 1e3:8.1f} ms')
    print(f'  shared / full: {t1 / t0:.3f}')


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--batch', type=int, default=128, help='queries N of one loss term (head)')
    p.add_argument('--queue', type=int, default=4096, help='queue length K (head)')
    p.add_argument('--dim', type=int, default=128, help='feature dimension (head)')
    p.add_argument('--config', default=STEP_CFG, help='CsMl config of the step benchmark')
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--only', choices=['head', 'step'], default=None)
    args = p.parse_args(argv)
    if args.only in (None, 'head'):
        bench_head(args)
    if args.only in (None, 'step'):
        bench_step(args)


if __name__ == '__main__':
    main()
