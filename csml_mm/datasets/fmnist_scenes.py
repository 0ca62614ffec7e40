# Copyright (c) csml_mm contributors. All rights reserved.
"""Fashion-MNIST scenes: an offline COCO-format detection and instance-segmentation set.

COCO cannot be downloaded here, so transfer to detection is measured on scenes composed from
the Fashion-MNIST images that ``make setup`` installs. Every scene is a grey square canvas
(128 px by default) holding 2-4 garments, each the item's 28 px image resized to 24-56 px and
pasted at a random position, later items partly covering earlier ones. The annotation of an
item is its class (10 categories), its *visible* silhouette as the mask (the pixels of later
items removed) and the mask's extent as the box, written as COCO ``instances_*.json`` with
RLE masks, so mmdet's ``CocoDataset`` and ``CocoMetric`` read it as they read COCO.

Design of the background ([DESIGN], chosen so that the task is more than thresholding):

- a smooth random brightness gradient plus pixel noise, so no fixed grey level separates
  garment from background;
- 4-8 *clutter* items, other Fashion-MNIST images of the same split pasted at low contrast
  (gain 0.12-0.35 against 0.55-1.0 for the annotated items), at 16-72 px and possibly cut by
  the border. Clutter has garment shapes and edges but is not annotated: a detector must tell
  a faint garment (background) from a bright one (object) and cannot simply segment every
  shape it sees. Clutter sits under the annotated items and is noise-free like them, so the
  noise pattern does not tell objects from clutter.

The silhouette of an item is the resized image above a grey level of 24 (of 255) with its
holes filled; inside it the item's own pixels are pasted (times its gain), so dark prints stay
dark. An item is placed only where every earlier item keeps at least half of its silhouette
and 40 pixels visible (else it is placed again, up to 30 tries, and then dropped).

Training scenes use only the Fashion-MNIST train split and validation scenes only the test
split, items and clutter alike, so no garment is seen by both. Scene ``i`` of a split draws
from its own generator, seeded by ``(seed, split, i)``: the same seed gives the same files,
and the first ``n`` scenes do not depend on how many are made. Each annotation also records
where its garment came from (``source``: split, index, position, size, gain), which the tests
use to rebuild every mask pixel by pixel.
"""

import json
import os
import os.path as osp
import shutil
import tempfile
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from .fashion_mnist import CLASSES, default_root, fashion_mnist_available, missing_message

#: Bump when the generator's output changes: cached sets of another version are not reused.
SCENES_VERSION = 1
#: Scene split -> the Fashion-MNIST split its garments come from.
SOURCE_SPLIT = {'train': 'train', 'val': 'test'}
_SPLIT_CODE = {'train': 0, 'val': 1}
#: File written last into a complete set (its presence marks the set as usable).
META_FILE = 'scenes_meta.json'


@dataclass(frozen=True)
class SceneSpec:
    """The knobs of the scene generator (all sizes in pixels, gains in [0, 1])."""

    canvas: int = 128
    items: Tuple[int, int] = (2, 4)
    item_size: Tuple[int, int] = (24, 56)
    item_gain: Tuple[float, float] = (0.55, 1.0)
    clutter: Tuple[int, int] = (4, 8)
    clutter_size: Tuple[int, int] = (16, 72)
    clutter_gain: Tuple[float, float] = (0.12, 0.35)
    background: Tuple[float, float] = (0.0, 40.0)
    gradient: float = 30.0
    noise_std: float = 4.0
    mask_threshold: int = 24
    min_visible_fraction: float = 0.5
    min_visible_pixels: int = 40
    placement_tries: int = 30

    def __post_init__(self) -> None:
        for name in (
            'items',
            'item_size',
            'item_gain',
            'clutter',
            'clutter_size',
            'clutter_gain',
            'background',
        ):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f'SceneSpec.{name}: low {lo} > high {hi}.')
        if self.items[0] < 1:
            raise ValueError(f'SceneSpec.items must start at 1 or more, got {self.items}.')
        if self.item_size[1] > self.canvas:
            raise ValueError(
                f'SceneSpec.item_size {self.item_size} does not fit the {self.canvas} px canvas.'
            )


def _silhouette(item: np.ndarray, threshold: int) -> np.ndarray:
    from scipy.ndimage import binary_fill_holes

    return binary_fill_holes(item > threshold)


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)


def _background(rng: np.random.Generator, spec: SceneSpec) -> np.ndarray:
    """Base level + a random linear gradient + Gaussian pixel noise (float64, H x W)."""
    c = spec.canvas
    base = rng.uniform(*spec.background)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:c, 0:c] / max(c - 1, 1) - 0.5
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy) * spec.gradient * rng.uniform(0, 1)
    noise = rng.normal(0, spec.noise_std, size=(c, c))
    return base + ramp + noise


def _paste_clutter(
    canvas: np.ndarray, pool: np.ndarray, rng: np.random.Generator, spec: SceneSpec
) -> List[int]:
    """Faint, unannotated garments (possibly cut by the border); returns their indices."""
    c = spec.canvas
    used = []
    for _ in range(int(rng.integers(spec.clutter[0], spec.clutter[1] + 1))):
        idx = int(rng.integers(len(pool)))
        size = int(rng.integers(spec.clutter_size[0], spec.clutter_size[1] + 1))
        gain = rng.uniform(*spec.clutter_gain)
        item = _resize(pool[idx], size).astype(np.float64)
        if rng.random() < 0.5:
            item = item[:, ::-1]
        mask = _silhouette(item, spec.mask_threshold)
        x = int(rng.integers(-size // 2, c - size // 2))
        y = int(rng.integers(-size // 2, c - size // 2))
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + size, c), min(y + size, c)
        sub = (slice(y0 - y, y1 - y), slice(x0 - x, x1 - x))
        region = canvas[y0:y1, x0:x1]
        region[mask[sub]] = gain * item[sub][mask[sub]]
        used.append(idx)
    return used


def compose_scene(
    images: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    spec: SceneSpec,
    split: str = 'train',
) -> Tuple[np.ndarray, List[dict]]:
    """One scene: ``(uint8 canvas (H, W), [item dict])``.

    Each item dict holds ``category`` (the class index), ``mask`` (bool H x W, the visible
    part) and ``source`` (``split``, ``index``, ``x``, ``y``, ``size``, ``gain``), with items
    in paste order. ``images`` / ``labels`` are one Fashion-MNIST split.
    """
    c = spec.canvas
    canvas = _background(rng, spec)
    clutter = _paste_clutter(canvas, images, rng, spec)
    placed: List[dict] = []
    for _ in range(int(rng.integers(spec.items[0], spec.items[1] + 1))):
        idx = int(rng.integers(len(images)))
        size = int(rng.integers(spec.item_size[0], spec.item_size[1] + 1))
        gain = round(float(rng.uniform(*spec.item_gain)), 6)
        item = _resize(images[idx], size).astype(np.float64)
        shape = _silhouette(item, spec.mask_threshold)
        if shape.sum() < spec.min_visible_pixels:
            continue
        for _ in range(spec.placement_tries):
            x = int(rng.integers(0, c - size + 1))
            y = int(rng.integers(0, c - size + 1))
            full = np.zeros((c, c), bool)
            full[y : y + size, x : x + size] = shape
            if all(_still_visible(p, full, spec) for p in placed):
                break
        else:
            continue
        for p in placed:
            p['mask'] &= ~full
        region = canvas[y : y + size, x : x + size]
        region[shape] = gain * item[shape]
        placed.append(
            dict(
                category=int(labels[idx]),
                mask=full,
                area_full=int(shape.sum()),
                source=dict(split=SOURCE_SPLIT[split], index=idx, x=x, y=y, size=size, gain=gain),
            )
        )
    img = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    for p in placed:
        p['clutter'] = clutter
    return img, placed


def _still_visible(p: dict, new: np.ndarray, spec: SceneSpec) -> bool:
    left = int((p['mask'] & ~new).sum())
    return left >= spec.min_visible_pixels and left >= spec.min_visible_fraction * p['area_full']


def _encode(mask: np.ndarray) -> Tuple[dict, List[float], int]:
    """COCO RLE (counts as text), ``[x, y, w, h]`` box and area of a binary mask."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    box = [float(v) for v in mask_utils.toBbox(rle)]
    area = int(mask_utils.area(rle))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle, box, area


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of scene ``index`` of ``split``: independent of the number of scenes."""
    return np.random.default_rng([seed, _SPLIT_CODE[split], index])


def write_split(
    out_dir: str, split: str, num_scenes: int, seed: int, spec: SceneSpec, fmnist_root: str
) -> dict:
    """Write ``out_dir/{split}/*.png`` and ``out_dir/annotations/instances_{split}.json``."""
    import cv2

    from .fashion_mnist import load_fashion_mnist

    images, labels = load_fashion_mnist(fmnist_root, SOURCE_SPLIT[split])
    img_dir = osp.join(out_dir, split)
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    coco_images, coco_anns = [], []
    for i in range(num_scenes):
        img, items = compose_scene(images, labels, scene_rng(seed, split, i), spec, split)
        name = f'{i:06d}.png'
        if not cv2.imwrite(osp.join(img_dir, name), img):
            raise OSError(f'could not write {osp.join(img_dir, name)}')
        coco_images.append(
            dict(
                id=i + 1,
                file_name=name,
                height=spec.canvas,
                width=spec.canvas,
                clutter=dict(
                    split=SOURCE_SPLIT[split], indices=items[0]['clutter'] if items else []
                ),
            )
        )
        for it in items:
            rle, box, area = _encode(it['mask'])
            coco_anns.append(
                dict(
                    id=len(coco_anns) + 1,
                    image_id=i + 1,
                    category_id=it['category'] + 1,
                    segmentation=rle,
                    bbox=box,
                    area=area,
                    iscrowd=0,
                    source=it['source'],
                )
            )
    categories = [
        dict(id=k + 1, name=name, supercategory='garment') for k, name in enumerate(CLASSES)
    ]
    ann = dict(
        info=dict(
            description=f'Fashion-MNIST scenes ({split}), csml_mm',
            version=SCENES_VERSION,
            seed=seed,
        ),
        images=coco_images,
        annotations=coco_anns,
        categories=categories,
    )
    with open(osp.join(out_dir, 'annotations', f'instances_{split}.json'), 'w') as f:
        json.dump(ann, f)
    return dict(scenes=num_scenes, instances=len(coco_anns))


def scenes_key(num_train: int, num_val: int, seed: int, spec: SceneSpec) -> dict:
    """What identifies a generated set: a cached set is reused only when this matches."""
    return dict(
        version=SCENES_VERSION, seed=seed, num_train=num_train, num_val=num_val, spec=asdict(spec)
    )


def _normalise(obj):
    return json.loads(json.dumps(obj))


def make_scenes(
    out_dir: str,
    num_train: int = 3000,
    num_val: int = 1000,
    seed: int = 0,
    spec: Optional[SceneSpec] = None,
    fmnist_root: Optional[str] = None,
    force: bool = False,
) -> Dict[str, object]:
    """Generate the scenes into ``out_dir`` unless a complete set of the same key is there.

    The set is written into a temporary sibling folder and moved into place at the end, so
    an interrupted run never leaves a half-written set that looks complete. Returns the
    set's metadata (``scenes_meta.json``).

    Raises:
        FileNotFoundError: Fashion-MNIST is not installed (the message says how to get it).
        FileExistsError: ``out_dir`` holds a set made with other settings and ``force``
            is off, or holds anything that is not a scenes set (never replaced).
    """
    spec = spec or SceneSpec()
    if num_train < 1 or num_val < 1:
        raise ValueError(
            f'make_scenes: num_train and num_val must be >= 1, got {num_train} and {num_val}.'
        )
    key = _normalise(scenes_key(num_train, num_val, seed, spec))
    meta_path = osp.join(out_dir, META_FILE)
    if osp.isfile(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get('key') == key:
            return meta
        if not force:
            raise FileExistsError(
                f'{out_dir} holds Fashion-MNIST scenes made with other settings '
                f'({meta.get("key")}); pass --force to replace them or choose another folder.'
            )
    elif osp.isdir(out_dir) and os.listdir(out_dir):
        # never deleted, even with force: it is not a scenes set
        raise FileExistsError(
            f'{out_dir} exists, is not empty and holds no {META_FILE} (it is '
            'not a scenes set); choose another folder.'
        )
    root = fmnist_root or default_root()
    if not fashion_mnist_available(root):
        raise FileNotFoundError(missing_message(root) + ' The scenes are made from it.')
    parent = osp.dirname(osp.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.scenes-', dir=parent)
    try:
        counts = {
            split: write_split(tmp, split, n, seed, spec, root)
            for split, n in (('train', num_train), ('val', num_val))
        }
        meta = dict(key=key, counts=counts, classes=list(CLASSES))
        with open(osp.join(tmp, META_FILE), 'w') as f:
            json.dump(meta, f, indent=2)
        if osp.isdir(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def default_scenes_dir(num_train: int = 3000, num_val: int = 1000, seed: int = 0) -> str:
    """The cache folder of a generated set (outside the repository, reused across runs)."""
    cache = os.environ.get('CSML_MM_CACHE') or osp.join(osp.expanduser('~'), '.cache', 'csml_mm')
    return osp.join(
        cache, 'fmnist_scenes', f'v{SCENES_VERSION}-seed{seed}-train{num_train}-val{num_val}'
    )
