"""Make the Fashion-MNIST scenes: COCO-format detection / instance segmentation, offline.

Usage::

    python tools/dataset_converters/fmnist_scenes.py                    # the cached default set
    python tools/dataset_converters/fmnist_scenes.py --out data/fmnist_scenes
    python tools/dataset_converters/fmnist_scenes.py --out /tmp/s --num-train 200 --num-val 50

Writes ``OUT/annotations/instances_{train,val}.json`` (COCO, RLE masks), ``OUT/train/*.png``
and ``OUT/val/*.png`` (grey 128 px scenes) and ``OUT/scenes_meta.json``; a complete set with
the same settings is reused, not rewritten. Training scenes use only the Fashion-MNIST train
split, validation scenes only its test split. The scene design is described in
``csml_mm/datasets/fmnist_scenes.py``; the detection configs that read it are under
``configs/benchmarks/mmdetection/fmnist_scenes/`` (``FMNIST_SCENES_ROOT=OUT``).
"""

import argparse
import sys
import time

from csml_mm.datasets.fmnist_scenes import default_scenes_dir, make_scenes


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        '--out',
        default=None,
        help='output folder (default: the cache, $CSML_MM_CACHE or ~/.cache/csml_mm)',
    )
    p.add_argument('--num-train', type=int, default=3000)
    p.add_argument('--num-val', type=int, default=1000)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument(
        '--fmnist-root',
        default=None,
        help='folder of the four Fashion-MNIST IDX .gz files (default: '
        '$FASHION_MNIST_ROOT or /usr/share/datasets/fashion-mnist)',
    )
    p.add_argument('--force', action='store_true', help='replace a set made with other settings')
    return p.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    import importlib.util

    if importlib.util.find_spec('pycocotools') is None:
        sys.exit(
            "fmnist_scenes: the scenes' masks are written with pycocotools, part of the "
            'detection stack: run `make setup-det` (or `pip install pycocotools`).'
        )
    out = args.out or default_scenes_dir(args.num_train, args.num_val, args.seed)
    start = time.time()
    try:
        meta = make_scenes(
            out,
            args.num_train,
            args.num_val,
            args.seed,
            fmnist_root=args.fmnist_root,
            force=args.force,
        )
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        sys.exit(f'fmnist_scenes: {e}')
    c = meta['counts']
    print(
        f'fmnist_scenes: {c["train"]["scenes"]} train scenes ({c["train"]["instances"]} '
        f'items), {c["val"]["scenes"]} val scenes ({c["val"]["instances"]} items) in {out} '
        f'({time.time() - start:.1f} s)'
    )
    print(out)
    return out


if __name__ == '__main__':
    main()
