"""Write a clean, resized copy of an image folder, once, before pretraining on it.

Usage::

    python tools/dataset_converters/prepare_folder.py data/my_images data/my_images_256 \
        --max-side 256
    # then point the _folder configs at the copy: CSML_DATA_ROOT=data/my_images_256

Real folders mix RGBA clip art, palette and grey(+alpha) files, 16-bit scans, images of a few
pixels and photographs of hundreds of megapixels. Every image is decoded the way the training
loader decodes it (:class:`~csml_mm.datasets.transforms.CheckedLoadImageFromFile`:
transparency composited onto ``--alpha-background``, three 8-bit channels, the
decompression-bomb guard ``--max-pixels`` with libjpeg's reduced decoding for large JPEGs),
shrunk so that its longer side is at most ``--max-side`` (area interpolation; smaller images are
kept as they are: the pipelines' crops upscale them), and written as PNG (or ``--format jpg``)
under the same relative path, so class sub-folders stay class sub-folders.

Corrupt files (empty, truncated, undecodable) and oversized ones are not copied; each is
listed with its reason in ``DST/prepare_folder_skipped.txt``. Writes are atomic and a file
whose copy is already there and newer than the source is not redone, so an interrupted run
resumes. Progress is printed at least every 10 seconds (images done, rate, time left).

Decoding bigger images than the loader allows costs memory (about 4 bytes a pixel, per
worker): raise ``--max-pixels`` for this one pass if the machine has it, not in the loader.
"""

import argparse
import os
import os.path as osp
import sys
import time
from multiprocessing import Pool
from typing import List, Optional, Tuple

_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
if osp.isfile(osp.join(_ROOT, 'csml_mm', '__init__.py')) and _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)  # run from a checkout that is not installed

from csml_mm.datasets.image_files import IMG_EXTENSIONS, is_image_file  # noqa: E402

SKIPPED_FILE = 'prepare_folder_skipped.txt'
#: at least one progress line this often (seconds)
PROGRESS_EVERY = 10.0


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('src', help='the image folder (any depth; class sub-folders are kept)')
    p.add_argument('dst', help='where the copy goes (created; may not be inside src)')
    p.add_argument(
        '--max-side',
        type=int,
        default=256,
        help='longest side of the copies, in pixels (default 256)',
    )
    p.add_argument(
        '--max-pixels',
        type=int,
        default=50_000_000,
        help='decompression-bomb guard: larger images are skipped (default 50 Mpx; '
        'JPEGs are decoded at a reduced scale first)',
    )
    p.add_argument(
        '--alpha-background',
        type=int,
        nargs='+',
        default=[255],
        help='grey level or R G B that transparent pixels become (default 255)',
    )
    p.add_argument('--format', choices=['png', 'jpg'], default='png')
    p.add_argument(
        '--workers', type=int, default=None, help='processes (default: the cores available)'
    )
    args = p.parse_args(argv)
    if len(args.alpha_background) not in (1, 3):
        p.error('--alpha-background takes one grey level or three values R G B')
    if args.max_side < 8:
        p.error('--max-side must be at least 8')
    return args


def list_images(src: str) -> List[str]:
    """Relative paths of the image files under ``src`` (those the loader decodes,
    ``csml_mm.datasets.image_files.IMG_EXTENSIONS``), sorted."""
    found = []
    for dirpath, dirnames, files in os.walk(src, followlinks=True):
        dirnames.sort()
        for name in sorted(files):
            if is_image_file(name):
                found.append(osp.relpath(osp.join(dirpath, name), src))
    return found


def _target(dst: str, rel: str, fmt: str) -> str:
    return osp.join(dst, osp.splitext(rel)[0] + '.' + fmt)


_LOADER = None


def _init(alpha_background, max_pixels):
    global _LOADER
    import cv2

    cv2.setNumThreads(1)
    from csml_mm.datasets.transforms import CheckedLoadImageFromFile

    _LOADER = CheckedLoadImageFromFile(alpha_background=alpha_background, max_pixels=max_pixels)


def convert_one(job: Tuple[str, str, str, int, str]) -> Tuple[str, Optional[str]]:
    """Convert one file; ``(rel, None)`` when written (or already there), else the reason."""
    import cv2

    from csml_mm.utils.errors import CorruptImageError

    src, dst, rel, max_side, fmt = job
    out = _target(dst, rel, fmt)
    source = osp.join(src, rel)
    if osp.isfile(out) and osp.getmtime(out) >= osp.getmtime(source):
        return rel, None
    try:
        img = _LOADER(dict(img_path=source))['img']
    except CorruptImageError as e:
        reason = str(e).split(': ', 1)[-1]
        return rel, reason.split('. Replace or delete')[0].split('. Make a resized copy')[0]
    h, w = img.shape[:2]
    if max(h, w) > max_side:
        scale = max_side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    os.makedirs(osp.dirname(out), exist_ok=True)
    tmp = f'{out}.tmp{os.getpid()}.{fmt}'
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if fmt == 'jpg' else []
    if not cv2.imwrite(tmp, img, params):
        return rel, f'could not write {out}'
    os.replace(tmp, out)
    return rel, None


def _fmt_time(seconds: float) -> str:
    seconds = int(round(seconds))
    return f'{seconds // 60}m{seconds % 60:02d}s' if seconds >= 60 else f'{seconds}s'


def main(argv=None) -> int:
    args = parse_args(argv)
    src, dst = osp.abspath(args.src), osp.abspath(args.dst)
    if not osp.isdir(src):
        raise SystemExit(f'error: {args.src} is not a folder')
    if dst == src or dst.startswith(src + os.sep):
        raise SystemExit(
            f'error: the copy ({args.dst}) may not be inside the source folder '
            f'({args.src}): the next run would read it as images'
        )
    rels = list_images(src)
    if not rels:
        raise SystemExit(f'error: no image files ({", ".join(IMG_EXTENSIONS)}) under {args.src}')
    os.makedirs(dst, exist_ok=True)
    workers = args.workers or len(os.sched_getaffinity(0))
    bg = (
        args.alpha_background[0]
        if len(args.alpha_background) == 1
        else tuple(args.alpha_background)
    )
    jobs = [(src, dst, rel, args.max_side, args.format) for rel in rels]
    print(
        f'[prepare_folder] {len(rels)} images from {src} -> {dst} (longer side <= '
        f'{args.max_side} px, {workers} worker(s))',
        flush=True,
    )
    skipped, done, start, last = [], 0, time.time(), time.time()
    with Pool(workers, initializer=_init, initargs=(bg, args.max_pixels)) as pool:
        for rel, reason in pool.imap_unordered(convert_one, jobs, chunksize=4):
            done += 1
            if reason is not None:
                skipped.append((rel, reason))
                print(f'[prepare_folder] skipped {osp.join(src, rel)}: {reason}', flush=True)
            now = time.time()
            if now - last >= PROGRESS_EVERY or done == len(jobs):
                rate = done / max(now - start, 1e-9)
                left = (len(jobs) - done) / rate if rate > 0 else 0
                print(
                    f'[prepare_folder] {done}/{len(jobs)} images, {rate:.1f}/s, '
                    f'{_fmt_time(left)} left',
                    flush=True,
                )
                last = now
    listing = osp.join(dst, SKIPPED_FILE)
    with open(listing + '.tmp', 'w') as f:
        f.writelines(f'{osp.join(src, rel)}\t{reason}\n' for rel, reason in sorted(skipped))
    os.replace(listing + '.tmp', listing)
    print(
        f'[prepare_folder] wrote {len(jobs) - len(skipped)} images in '
        f'{_fmt_time(time.time() - start)}; skipped {len(skipped)} (listed in {listing})',
        flush=True,
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
