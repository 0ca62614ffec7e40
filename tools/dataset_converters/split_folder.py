"""Split a labelled image folder into the ``train/`` and ``val/`` layout of kNN and the probe.

Usage::

    python tools/dataset_converters/split_folder.py data/my_labelled_raw data/my_labelled \
        --val-fraction 0.2 --min-per-class 50 --max-per-class 400
    # then: CSML_EVAL_ROOT=data/my_labelled (and CSML_DATA_ROOT=data/my_labelled/train to
    # pretrain on the training split only)

``SRC`` holds one sub-folder per class; the images of a class may lie at any depth under its
folder. Each class is split on its own (stratified): ``round(val_fraction * n)`` images, at
least one, go to ``val/``, the rest to ``train/``, drawn with ``--seed`` from the class's files
in sorted order, so the same arguments give the same split on any machine. ``--max-per-class``
first keeps a random subset of a large class (a folder where one class holds most images makes
kNN accuracy mostly a majority vote); classes with fewer than ``--min-per-class`` images are
left out.

Byte-identical files are found by content hash before splitting, because a copy in both splits
would be found by its twin and inflate every kNN figure: of a group of identical files within
one class only the first (sorted path) is used; a group spread over several classes has no
single label and is left out entirely. Near-duplicates (the same drawing re-coloured or
re-sized) are not detected.

The images are linked (``--link symlink``, the default), hard-linked or copied into
``DST/{train,val}/<class>/``, named after their path inside the class folder with ``/`` turned
into ``__``, so every split is flat and the names say where each file came from.
``DST/split.json`` records the arguments, the per-class counts and what was left out.

Every file the image loader decodes is split (``csml_mm.datasets.image_files.IMG_EXTENSIONS``).
A folder dataset lists fewer endings (``FOLDER_IMG_EXTENSIONS``: no ``.tiff``, ``.webp`` or
``.gif``); when the split holds such files a note says how many, and
``prepare_folder.py`` (the next step of docs/own_data.md) turns them into PNG copies.
"""

import argparse
import hashlib
import json
import os
import os.path as osp
import random
import shutil
import sys
from collections import defaultdict
from typing import Dict, List, Tuple

from csml_mm.datasets.image_files import FOLDER_IMG_EXTENSIONS, IMG_EXTENSIONS, is_image_file

MANIFEST = 'split.json'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('src', help='labelled folder: one sub-folder per class, images at any depth')
    p.add_argument('dst', help='where train/ and val/ go (created; must not exist or be empty)')
    p.add_argument(
        '--val-fraction',
        type=float,
        default=0.2,
        help='share of each class that goes to val/ (default 0.2)',
    )
    p.add_argument(
        '--min-per-class',
        type=int,
        default=2,
        help='classes with fewer images (after removing duplicates) are left out '
        '(default 2, the least that fills both splits)',
    )
    p.add_argument(
        '--max-per-class',
        type=int,
        default=None,
        help='keep at most this many images of a class, drawn at random (default: all)',
    )
    p.add_argument(
        '--classes',
        nargs='+',
        default=None,
        help='use only these class folders (default: every sub-folder of SRC)',
    )
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--link', choices=['symlink', 'hardlink', 'copy'], default='symlink')
    args = p.parse_args(argv)
    if not 0 < args.val_fraction < 1:
        p.error(f'--val-fraction must lie strictly between 0 and 1, got {args.val_fraction}')
    if args.min_per_class < 2:
        p.error('--min-per-class must be at least 2: each class needs one image in each split')
    if args.max_per_class is not None and args.max_per_class < args.min_per_class:
        p.error('--max-per-class must be at least --min-per-class')
    return args


def list_classes(src: str) -> Dict[str, List[str]]:
    """``{class: [path relative to the class folder, ...]}``, every list sorted."""
    out = {}
    for name in sorted(os.listdir(src)):
        root = osp.join(src, name)
        if name.startswith('.') or not osp.isdir(root):
            continue
        files = []
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
            for f in filenames:
                if is_image_file(f):
                    files.append(osp.relpath(osp.join(dirpath, f), root))
        out[name] = sorted(files)
    return out


def _digest(path: str) -> str:
    h = hashlib.sha1()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def remove_duplicates(
    src: str, classes: Dict[str, List[str]]
) -> Tuple[Dict[str, List[str]], int, int]:
    """Drop byte-identical files: keep the first of a one-class group, none of a mixed one.

    Returns the kept files per class, the number of in-class copies dropped and the number
    of files dropped because their content carries several labels.
    """
    groups: Dict[str, List[Tuple[str, str]]] = defaultdict(list)
    for cls, files in classes.items():
        for rel in files:
            groups[_digest(osp.join(src, cls, rel))].append((cls, rel))
    keep = set()
    copies = ambiguous = 0
    for members in groups.values():
        if len({c for c, _ in members}) > 1:
            ambiguous += len(members)
            continue
        keep.add(min(members))
        copies += len(members) - 1
    kept = {c: [r for r in files if (c, r) in keep] for c, files in classes.items()}
    return kept, copies, ambiguous


def split_class(
    files: List[str], val_fraction: float, max_per_class, rng: random.Random
) -> Tuple[List[str], List[str]]:
    """A seeded, stratified split of one class: ``(train, val)``, each sorted."""
    files = list(files)
    rng.shuffle(files)
    if max_per_class is not None:
        files = files[:max_per_class]
    n_val = min(max(1, round(val_fraction * len(files))), len(files) - 1)
    return sorted(files[n_val:]), sorted(files[:n_val])


def _flat_name(rel: str) -> str:
    return rel.replace(os.sep, '__').replace('/', '__')


def _place(src: str, dst: str, how: str) -> None:
    if how == 'symlink':
        os.symlink(osp.abspath(src), dst)
    elif how == 'hardlink':
        os.link(src, dst)
    else:
        shutil.copy2(src, dst)


def main(argv=None) -> int:
    args = parse_args(argv)
    src, dst = osp.abspath(args.src), osp.abspath(args.dst)
    if not osp.isdir(src):
        raise SystemExit(f'error: {args.src} is not a folder')
    if dst == src or dst.startswith(src + os.sep):
        raise SystemExit(
            f'error: {args.dst} lies inside {args.src}; choose a folder outside it '
            'so the split is not read back as a class'
        )
    if osp.isdir(dst) and os.listdir(dst):
        raise SystemExit(
            f'error: {args.dst} exists and is not empty; remove it or choose '
            'another folder (a split is written once, whole)'
        )
    classes = list_classes(src)
    if args.classes is not None:
        unknown = sorted(set(args.classes) - set(classes))
        if unknown:
            raise SystemExit(
                f'error: --classes names folders that {args.src} does not have: '
                f'{unknown}; it has {sorted(classes)}'
            )
        classes = {c: classes[c] for c in args.classes}
    if not any(classes.values()):
        raise SystemExit(
            f'error: no class sub-folder of {args.src} holds an image file '
            f'({", ".join(IMG_EXTENSIONS)}); the layout is SRC/<class>/<images>'
        )
    classes, copies, ambiguous = remove_duplicates(src, classes)
    small = {c: len(f) for c, f in classes.items() if len(f) < args.min_per_class}
    classes = {c: f for c, f in sorted(classes.items()) if c not in small}
    if len(classes) < 2:
        raise SystemExit(
            f'error: fewer than 2 classes have --min-per-class '
            f'{args.min_per_class} images ({small} fall short); lower it'
        )
    counts, unlisted = {}, 0
    for cls, files in classes.items():
        rng = random.Random(f'{args.seed}:{cls}')  # independent of the other classes
        train, val = split_class(files, args.val_fraction, args.max_per_class, rng)
        counts[cls] = dict(train=len(train), val=len(val))
        for split, part in (('train', train), ('val', val)):
            out_dir = osp.join(dst, split, cls)
            os.makedirs(out_dir, exist_ok=True)
            for rel in part:
                _place(osp.join(src, cls, rel), osp.join(out_dir, _flat_name(rel)), args.link)
                unlisted += not is_image_file(rel, FOLDER_IMG_EXTENSIONS)
    n_train = sum(c['train'] for c in counts.values())
    n_val = sum(c['val'] for c in counts.values())
    manifest = dict(
        src=src,
        val_fraction=args.val_fraction,
        seed=args.seed,
        min_per_class=args.min_per_class,
        max_per_class=args.max_per_class,
        link=args.link,
        classes=counts,
        train=n_train,
        val=n_val,
        duplicates_dropped=copies,
        ambiguous_dropped=ambiguous,
        classes_left_out=small,
    )
    with open(osp.join(dst, MANIFEST), 'w') as f:
        json.dump(manifest, f, indent=1)
    print(
        f'{len(counts)} classes: {n_train} train and {n_val} val images in {args.dst}; '
        f'{copies} duplicate copies and {ambiguous} files with several labels left out'
        + (f'; classes below --min-per-class left out: {small}' if small else '')
    )
    if unlisted:
        skipped = sorted(set(IMG_EXTENSIONS) - set(FOLDER_IMG_EXTENSIONS))
        print(
            f'note: {unlisted} of the placed files end in {", ".join(skipped)}, which a '
            f'folder dataset skips (it lists {", ".join(FOLDER_IMG_EXTENSIONS)}): convert '
            f'the split with tools/dataset_converters/prepare_folder.py {args.dst} OUT '
            'before using it'
        )
    return 0


if __name__ == '__main__':
    sys.exit(main())
