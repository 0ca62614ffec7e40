# Copyright (c) csml_mm contributors. All rights reserved.
"""Per-image transforms vs BatchAugDataPreprocessor: time to get one batch of views ready.

Both sides make 2 views per image (random resized crop 0.2-1, flip, brightness/contrast jitter
0.4 with p 0.8) of the same Fashion-MNIST (or, without it, DigitsComposite) images and normalise
them; (a) mmpretrain's per-image pipeline (``MultiView`` + ``PackInputs``) then
``SelfSupDataPreprocessor``, (b) ``PackInputs`` once per image then
``BatchAugDataPreprocessor``. Loading runs in the main process (``num_workers=0``), the two
sides interleaved, median over batches; prints the ratio and one JSON line::

    python tools/benchmarks/bench_batch_augment.py [--batch 128] [--batches 20] [--threads 2]
"""

import argparse
import json
import os.path as osp
import statistics
import sys
import time

import torch

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

VIEW = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomApply',
        transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4)],
        prob=0.8,
    ),
]
NORM = dict(mean=[55.8] * 3, std=[84.6] * 3, to_rgb=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--batches', type=int, default=20)
    p.add_argument('--threads', type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    from mmpretrain.registry import MODELS

    import csml_mm  # noqa: F401
    from csml_mm.datasets.fashion_mnist import fashion_mnist_available

    init_default_scope('mmpretrain')

    if fashion_mnist_available():
        data = dict(type='FashionMNISTGz', split='train', num_samples=args.batch * args.batches)
    else:
        data = dict(type='DigitsComposite', split='train')

    def loader(pipeline):
        return Runner.build_dataloader(
            dict(
                batch_size=args.batch,
                num_workers=0,
                drop_last=True,
                sampler=dict(type='DefaultSampler', shuffle=True),
                collate_fn=dict(type='default_collate'),
                dataset=dict(data, pipeline=pipeline),
            ),
            seed=0,
        )

    per_image = (
        loader([dict(type='MultiView', num_views=2, transforms=[VIEW]), dict(type='PackInputs')]),
        MODELS.build(dict(type='SelfSupDataPreprocessor', **NORM)),
    )
    batched = (
        loader([dict(type='MultiView', num_views=1, transforms=[[]]), dict(type='PackInputs')]),
        MODELS.build(
            dict(
                type='BatchAugDataPreprocessor',
                views_per_input=2,
                crop_scale=(0.2, 1.0),
                flip_prob=0.5,
                jitter_prob=0.8,
                brightness=0.4,
                contrast=0.4,
                saturation=0.0,
                gray_prob=0.0,
                **NORM,
            )
        ),
    )
    times = {'per_image': [], 'batched': []}
    iters = {k: iter(v[0]) for k, v in (('per_image', per_image), ('batched', batched))}
    n = min(len(per_image[0]), len(batched[0]))
    for _ in range(n):
        for name, (_, pre) in (('per_image', per_image), ('batched', batched)):
            t0 = time.perf_counter()
            out = pre(next(iters[name]), True)
            assert len(out['inputs']) == 2
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v[1:]) * 1000 for k, v in times.items()}
    ratio = med['batched'] / med['per_image']
    print(f'data: {data["type"]}, batch {args.batch}, {n} batches, {args.threads} threads')
    print(f'per-image pipeline + SelfSupDataPreprocessor: {med["per_image"]:.1f} ms per batch')
    print(f'PackInputs + BatchAugDataPreprocessor:         {med["batched"]:.1f} ms per batch')
    print(f'ratio batched / per-image: {ratio:.3f}')
    print(
        json.dumps(
            dict(
                per_image_ms=round(med['per_image'], 2),
                batched_ms=round(med['batched'], 2),
                ratio=round(ratio, 4),
                batch=args.batch,
                batches=n,
                data=data['type'],
            )
        )
    )


if __name__ == '__main__':
    main()
