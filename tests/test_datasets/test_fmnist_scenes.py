"""Fashion-MNIST scenes: every mask, box and pixel rebuilt from each annotation's recorded
source, train/val split separation, determinism, caching, the missing-data error, and mmdet's
CocoDataset reading the files."""

import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from scipy.ndimage import binary_fill_holes

from csml_mm.datasets import fashion_mnist as fm
from csml_mm.datasets.fmnist_scenes import META_FILE, SceneSpec, make_scenes


def _garments(rng, n):
    """Ellipse-shaped 'garments' with random texture (distinct per split and image)."""
    imgs = np.zeros((n, 28, 28), np.uint8)
    yy, xx = np.mgrid[0:28, 0:28]
    for i in range(n):
        cy, cx = rng.uniform(11, 17, 2)
        ry, rx = rng.uniform(6, 12, 2)
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        imgs[i][inside] = rng.integers(60, 256, inside.sum())
    return imgs


@pytest.fixture
def fmnist(tmp_path, write_idx):
    root = tmp_path / 'fmnist'
    root.mkdir()
    rng = np.random.default_rng(123)
    data = {}
    for split, prefix, n in (('train', 'train', 40), ('test', 't10k', 30)):
        imgs, labels = _garments(rng, n), rng.integers(0, 10, n)
        write_idx(root / f'{prefix}-images-idx3-ubyte.gz', imgs, 0x803)
        write_idx(root / f'{prefix}-labels-idx1-ubyte.gz', labels, 0x801)
        data[split] = (imgs, labels)
    fm._CACHE.clear()
    yield str(root), data
    fm._CACHE.clear()


def _load(out, split):
    with open(osp.join(out, 'annotations', f'instances_{split}.json')) as f:
        return json.load(f)


def _rebuild(src_img, src, spec, canvas):
    """Silhouette and pixels of one pasted garment, from its recorded source (test's own)."""
    s = src['size']
    item = cv2.resize(src_img, (s, s), interpolation=cv2.INTER_LINEAR).astype(np.float64)
    shape = binary_fill_holes(item > spec.mask_threshold)
    full = np.zeros((canvas, canvas), bool)
    full[src['y'] : src['y'] + s, src['x'] : src['x'] + s] = shape
    pix = np.zeros((canvas, canvas))
    pix[src['y'] : src['y'] + s, src['x'] : src['x'] + s] = src['gain'] * item
    return full, pix


@pytest.mark.parametrize('split', ['train', 'val'])
def test_masks_boxes_pixels_and_sources(tmp_path, fmnist, split):
    root, data = fmnist
    spec = SceneSpec(canvas=96, item_size=(24, 48))
    out = str(tmp_path / 'scenes')
    make_scenes(out, num_train=12, num_val=8, seed=3, spec=spec, fmnist_root=root)
    ann = _load(out, split)
    src_split = 'train' if split == 'train' else 'test'
    imgs, labels = data[src_split]
    assert [c['name'] for c in ann['categories']] == list(fm.CLASSES)
    assert len(ann['images']) == (12 if split == 'train' else 8)
    by_image = {}
    for a in ann['annotations']:
        by_image.setdefault(a['image_id'], []).append(a)
    assert sum(len(v) for v in by_image.values()) >= len(ann['images'])  # items everywhere
    occluded = 0
    for im in ann['images']:
        assert im['clutter']['split'] == src_split
        assert all(0 <= i < len(imgs) for i in im['clutter']['indices'])
        canvas = cv2.imread(osp.join(out, split, im['file_name']), cv2.IMREAD_UNCHANGED)
        assert canvas.shape == (96, 96) and canvas.dtype == np.uint8
        items = sorted(by_image.get(im['id'], []), key=lambda a: a['id'])  # paste order
        rebuilt = [_rebuild(imgs[a['source']['index']], a['source'], spec, 96) for a in items]
        for j, a in enumerate(items):
            src = a['source']
            # split separation: the garment comes from the matching Fashion-MNIST split
            assert src['split'] == src_split
            assert a['category_id'] == int(labels[src['index']]) + 1
            mask = mask_utils.decode(a['segmentation']).astype(bool)
            # the visible silhouette: its own minus every later garment's
            want = rebuilt[j][0].copy()
            for later, _ in rebuilt[j + 1 :]:
                want &= ~later
            np.testing.assert_array_equal(mask, want)
            occluded += int(rebuilt[j][0].sum() - mask.sum() > 0)
            assert mask.sum() >= spec.min_visible_fraction * rebuilt[j][0].sum()
            # box = the mask's extent, area = its pixel count
            ys, xs = np.nonzero(mask)
            assert a['bbox'] == [
                xs.min(),
                ys.min(),
                xs.max() - xs.min() + 1,
                ys.max() - ys.min() + 1,
            ]
            assert a['area'] == int(mask.sum()) and a['iscrowd'] == 0
            # the visible pixels are this garment's, from this split (the other split's
            # images are different random textures, so a mix-up cannot pass)
            np.testing.assert_array_equal(
                canvas[mask], np.clip(np.rint(rebuilt[j][1][mask]), 0, 255)
            )
    assert occluded > 0  # the set does exercise occlusion


def test_deterministic_prefix_stable_and_seeded(tmp_path, fmnist):
    root, _ = fmnist
    a, b, c, d = (str(tmp_path / n) for n in 'abcd')
    make_scenes(a, 10, 4, seed=0, fmnist_root=root)
    make_scenes(b, 10, 4, seed=0, fmnist_root=root)
    make_scenes(c, 4, 2, seed=0, fmnist_root=root)
    make_scenes(d, 10, 4, seed=1, fmnist_root=root)
    assert _load(a, 'train') == _load(b, 'train') and _load(a, 'val') == _load(b, 'val')
    for name in sorted(os.listdir(osp.join(a, 'train'))):
        with (
            open(osp.join(a, 'train', name), 'rb') as f1,
            open(osp.join(b, 'train', name), 'rb') as f2,
        ):
            assert f1.read() == f2.read()
    # the first scenes do not depend on how many are made
    short = _load(c, 'train')
    ids = {im['id'] for im in short['images']}
    assert short['annotations'] == [
        x for x in _load(a, 'train')['annotations'] if x['image_id'] in ids
    ]
    # another seed, other scenes
    assert _load(d, 'train')['annotations'] != _load(a, 'train')['annotations']


def test_cached_set_is_reused_and_other_settings_refused(tmp_path, fmnist):
    root, _ = fmnist
    out = str(tmp_path / 's')
    make_scenes(out, 4, 2, fmnist_root=root)
    stamp = os.path.getmtime(osp.join(out, META_FILE))
    make_scenes(out, 4, 2, fmnist_root=root)  # same key: reused, not rewritten
    assert os.path.getmtime(osp.join(out, META_FILE)) == stamp
    with pytest.raises(FileExistsError, match='--force'):
        make_scenes(out, 5, 2, fmnist_root=root)
    meta = make_scenes(out, 5, 2, fmnist_root=root, force=True)
    assert meta['counts']['train']['scenes'] == 5
    assert len(os.listdir(osp.join(out, 'train'))) == 5
    # nothing half-written is left beside it
    assert [n for n in os.listdir(tmp_path) if n.startswith('.scenes-')] == []
    # a folder that is not a scenes set is never replaced, not even with force
    other = tmp_path / 'mine'
    other.mkdir()
    (other / 'keep.txt').write_text('user data')
    with pytest.raises(FileExistsError, match='not a scenes set'):
        make_scenes(str(other), 4, 2, fmnist_root=root, force=True)
    assert (other / 'keep.txt').read_text() == 'user data'


def test_missing_fashion_mnist_names_the_fix(tmp_path, repo_root, subprocess_env):
    with pytest.raises(FileNotFoundError, match='apt-get install dataset-fashion-mnist'):
        make_scenes(str(tmp_path / 'x'), 2, 2, fmnist_root=str(tmp_path / 'nowhere'))
    assert not (tmp_path / 'x').exists()
    proc = subprocess.run(
        [
            sys.executable,
            'tools/dataset_converters/fmnist_scenes.py',
            '--out',
            str(tmp_path / 'y'),
            '--fmnist-root',
            str(tmp_path / 'nowhere'),
        ],
        cwd=repo_root,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert 'apt-get install dataset-fashion-mnist' in proc.stderr


def test_mmdet_coco_dataset_reads_the_scenes(tmp_path, fmnist):
    import mmdet.datasets  # noqa: F401  (registers CocoDataset and its transforms)
    from mmdet.registry import DATASETS
    from mmengine.registry import init_default_scope

    root, _ = fmnist
    out = str(tmp_path / 'scenes')
    make_scenes(out, 6, 3, fmnist_root=root)
    init_default_scope('mmdet')
    try:
        ds = DATASETS.build(
            dict(
                type='CocoDataset',
                data_root=out + '/',
                metainfo=dict(classes=fm.CLASSES),
                ann_file='annotations/instances_val.json',
                data_prefix=dict(img='val/'),
                test_mode=True,
                pipeline=[
                    dict(type='LoadImageFromFile'),
                    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                ],
            )
        )
        assert len(ds) == 3
        ann = _load(out, 'val')
        item = ds[0]
        assert item['img'].shape == (128, 128, 3)
        mine = [a for a in ann['annotations'] if a['image_id'] == ann['images'][0]['id']]
        assert len(item['gt_bboxes']) == len(mine)
        for k, a in enumerate(mine):
            np.testing.assert_array_equal(
                item['gt_masks'].masks[k], mask_utils.decode(a['segmentation'])
            )
            x, y, w, h = a['bbox']
            np.testing.assert_allclose(item['gt_bboxes'].tensor[k].numpy(), [x, y, x + w, y + h])
            assert item['gt_bboxes_labels'][k] == a['category_id'] - 1
    finally:
        init_default_scope('mmpretrain')
