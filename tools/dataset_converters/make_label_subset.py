"""Write the annotation file of a labelled subset (1% / 10% semi-supervised benchmarks).

Usage::

    # SimCLR's published lists (one file name per line, e.g. n01440764_10026.JPEG):
    python tools/dataset_converters/make_label_subset.py data/imagenet/meta/train.txt \
        data/imagenet/meta/train_1percent.txt --simclr-list 1percent.txt
    # otherwise a seeded, class-balanced draw:
    python tools/dataset_converters/make_label_subset.py data/imagenet/meta/train.txt \
        data/imagenet/meta/train_10percent.txt --percent 10 --seed 0
    python tools/dataset_converters/make_label_subset.py data/my_dataset/train \
        data/my_dataset/meta/train_4shot.txt --per-class 4
    # Fashion-MNIST's train split (in memory, no files): "index label" lines, read by
    # FashionMNISTGz(subset_file=...); the few-label benchmark's fixed 1% / 10% subsets:
    python tools/dataset_converters/make_label_subset.py fashion-mnist:train \
        configs/benchmarks/classification/fmnist/subsets/train_1pct_seed0.txt --percent 1

The source is an mmpretrain annotation file (``relative/path label`` per line), a
folder with one sub-folder per class (labels = sorted folder names), or
``fashion-mnist:train`` / ``fashion-mnist:test`` (the installed Fashion-MNIST split; each
image is named by its index, zero-padded to 5 digits, so the lines sort by index). The output is an
mmpretrain annotation file, ``relative/path label`` per line, sorted by label then path.
In a folder, the images are the files that the image loader decodes
(``csml_mm.datasets.image_files.IMG_EXTENSIONS``, any case; hidden files left out).

The balanced draw takes ``n = round(percent / 100 * N / C)`` images of every class (at
least 1; all of a class with fewer), chosen by a ``numpy.random.default_rng(seed)``
permutation of the class's paths in sorted order, so the same inputs and seed give the
same file on every machine.
"""

import argparse
import os
import os.path as osp
import sys
from collections import defaultdict
from typing import Dict, List, Tuple

import numpy as np

from csml_mm.datasets.image_files import is_image_file

Entry = Tuple[str, int]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Make a labelled-subset annotation file')
    parser.add_argument(
        'source',
        help='annotation file ("path label" lines), a folder '
        'with one sub-folder per class, or fashion-mnist:train',
    )
    parser.add_argument('out', help='output annotation file')
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument('--percent', type=float, help='percentage of the images, e.g. 1 or 10')
    group.add_argument('--per-class', type=int, help='images per class')
    group.add_argument('--simclr-list', help='SimCLR subset list: one file name per line')
    parser.add_argument('--seed', type=int, default=0, help='seed of the balanced draw')
    return parser.parse_args(argv)


FMNIST_PREFIX = 'fashion-mnist:'


def read_annotations(source: str) -> List[Entry]:
    """``[(relative path, label)]`` from an annotation file, a class-folder tree or
    ``fashion-mnist:<split>`` (``(index, label)`` of that split, the index as text)."""
    if source.startswith(FMNIST_PREFIX):
        from csml_mm.datasets.fashion_mnist import default_root, load_fashion_mnist

        _, labels = load_fashion_mnist(default_root(), source[len(FMNIST_PREFIX) :])
        return [(f'{i:05d}', int(label)) for i, label in enumerate(labels)]
    if osp.isdir(source):
        classes = sorted(d for d in os.listdir(source) if osp.isdir(osp.join(source, d)))
        if not classes:
            raise ValueError(f'{source} has no class sub-folders.')
        entries = []
        for label, cls in enumerate(classes):
            for root, _, files in os.walk(osp.join(source, cls)):
                for name in files:
                    if is_image_file(name):
                        rel = osp.relpath(osp.join(root, name), source).replace(os.sep, '/')
                        entries.append((rel, label))
        return entries
    if not osp.isfile(source):
        raise FileNotFoundError(f'{source}: no such annotation file or folder.')
    entries = []
    with open(source) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2 or not parts[1].lstrip('-').isdigit():
                raise ValueError(
                    f'{source}:{lineno}: expected "relative/path label", got {line!r}.'
                )
            entries.append((parts[0], int(parts[1])))
    return entries


def balanced_subset(entries: List[Entry], per_class: int, seed: int) -> List[Entry]:
    """``per_class`` seeded random images of every class (all of a smaller class)."""
    by_class: Dict[int, List[str]] = defaultdict(list)
    for path, label in entries:
        by_class[label].append(path)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in sorted(by_class):
        paths = sorted(by_class[label])
        order = rng.permutation(len(paths))[:per_class]
        chosen.extend((paths[i], label) for i in sorted(order))
    return chosen


def simclr_subset(entries: List[Entry], list_file: str) -> List[Entry]:
    """The entries whose file names are listed in a SimCLR subset file."""
    by_name: Dict[str, Entry] = {}
    for path, label in entries:
        by_name.setdefault(osp.basename(path), (path, label))
    with open(list_file) as f:
        names = [ln.strip() for ln in f if ln.strip()]
    missing = [n for n in names if n not in by_name]
    if missing:
        raise KeyError(
            f'{len(missing)} of the {len(names)} files in {list_file} are not in '
            f'the source annotations (e.g. {missing[:3]}); use the full ImageNet '
            'train annotations (meta/train.txt) as the source.'
        )
    return [by_name[n] for n in dict.fromkeys(names)]


def main(argv=None):
    args = parse_args(argv)
    entries = read_annotations(args.source)
    if not entries:
        raise ValueError(f'{args.source} lists no images.')
    num_classes = len({label for _, label in entries})
    if args.simclr_list:
        subset = simclr_subset(entries, args.simclr_list)
    else:
        if args.per_class is not None:
            per_class = args.per_class
        else:
            if not 0 < args.percent <= 100:
                raise ValueError(f'--percent must be in (0, 100], got {args.percent}.')
            per_class = max(1, int(round(args.percent / 100 * len(entries) / num_classes)))
        if per_class < 1:
            raise ValueError(f'--per-class must be >= 1, got {per_class}.')
        subset = balanced_subset(entries, per_class, args.seed)
    subset = sorted(subset, key=lambda e: (e[1], e[0]))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        f.writelines(f'{path} {label}\n' for path, label in subset)
    counts = np.bincount([label for _, label in subset], minlength=num_classes)
    print(
        f'make_label_subset: {len(subset)} of {len(entries)} images '
        f'({100 * len(subset) / len(entries):.2f}%), {num_classes} classes, '
        f'{counts.min()}-{counts.max()} per class -> {args.out}',
        file=sys.stdout,
    )
    return subset


if __name__ == '__main__':
    main()
