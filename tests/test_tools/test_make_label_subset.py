"""tools/dataset_converters/make_label_subset.py on a generated class-folder tree."""

import importlib.util
import os.path as osp
from collections import Counter

import pytest

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
_spec = importlib.util.spec_from_file_location(
    '_make_label_subset', osp.join(ROOT, 'tools', 'dataset_converters', 'make_label_subset.py')
)
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)

# Unequal class sizes, so a proportional draw would not be balanced.
SIZES = {'n001': 120, 'n002': 95, 'n003': 200, 'n004': 150}


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / 'train'
    for cls, n in SIZES.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            (root / cls / f'{cls}_{i}.JPEG').write_bytes(b'')
        (root / cls / 'notes.txt').write_text('not an image')
    return root


def _read(path):
    lines = [ln.split() for ln in open(path).read().splitlines()]
    return [(p, int(label)) for p, label in lines]


def test_balanced_and_reproducible(tree, tmp_path):
    a, b, c = tmp_path / 'a.txt', tmp_path / 'b.txt', tmp_path / 'c.txt'
    tool.main([str(tree), str(a), '--percent', '10', '--seed', '3'])
    tool.main([str(tree), str(b), '--percent', '10', '--seed', '3'])
    tool.main([str(tree), str(c), '--percent', '10', '--seed', '4'])
    sub = _read(a)
    assert open(a).read() == open(b).read()  # same seed, same file
    assert open(a).read() != open(c).read()  # another seed, another draw
    # 10% of 565 images over 4 classes -> round(14.125) = 14 per class.
    counts = Counter(label for _, label in sub)
    assert counts == {0: 14, 1: 14, 2: 14, 3: 14}
    classes = sorted(SIZES)
    for path, label in sub:
        cls, name = path.split('/')
        assert cls == classes[label] and name.startswith(cls) and name.endswith('.JPEG')
        assert osp.isfile(tree / path)
    assert len({p for p, _ in sub}) == len(sub)


def test_folder_images_are_what_the_loader_decodes(tmp_path):
    """From a folder: every file the loader decodes (.gif included), in any case; no hidden
    files, no other files (csml_mm.datasets.image_files)."""
    root = tmp_path / 'train'
    names = ['a.jpg', 'b.GIF', 'c.webp', 'd.tiff', 'e.png', '.f.jpg', 'g.txt', 'h.svg']
    for cls in ('x', 'y'):
        (root / cls).mkdir(parents=True)
        for name in names:
            (root / cls / name).write_bytes(b'')
    got = sorted(tool.read_annotations(str(root)))
    assert got == [
        (f'{cls}/{n}', label)
        for label, cls in enumerate('xy')
        for n in ['a.jpg', 'b.GIF', 'c.webp', 'd.tiff', 'e.png']
    ]


def test_per_class_from_annotation_file(tree, tmp_path):
    ann = tmp_path / 'train.txt'
    entries = tool.read_annotations(str(tree))
    ann.write_text(''.join(f'{p} {label}\n' for p, label in entries))
    out = tmp_path / 'sub.txt'
    tool.main([str(ann), str(out), '--per-class', '100', '--seed', '0'])
    counts = Counter(label for _, label in _read(out))
    # Class n002 has only 95 images: all of them; the others exactly 100.
    assert counts == {0: 100, 1: 95, 2: 100, 3: 100}


def test_simclr_list(tree, tmp_path):
    listed = ['n003_7.JPEG', 'n001_0.JPEG', 'n003_150.JPEG']
    lst = tmp_path / '1percent.txt'
    lst.write_text('\n'.join(listed) + '\n')
    out = tmp_path / 'sub.txt'
    tool.main([str(tree), str(out), '--simclr-list', str(lst)])
    assert _read(out) == [
        ('n001/n001_0.JPEG', 0),
        ('n003/n003_150.JPEG', 2),
        ('n003/n003_7.JPEG', 2),
    ]
    lst.write_text('n009_1.JPEG\n')
    with pytest.raises(KeyError, match='not in the source annotations'):
        tool.main([str(tree), str(out), '--simclr-list', str(lst)])


def test_bad_annotation_line(tmp_path):
    ann = tmp_path / 'bad.txt'
    ann.write_text('a/b.JPEG 0\nno_label_here\n')
    with pytest.raises(ValueError, match='bad.txt:2'):
        tool.main([str(ann), str(tmp_path / 'o.txt'), '--percent', '1'])


def test_fashion_mnist_subset_feeds_the_dataset(tmp_path, write_idx, monkeypatch):
    """``fashion-mnist:train`` -> ``index label`` lines -> FashionMNISTGz(subset_file=...)
    keeps exactly those images; a file whose labels do not match the split is refused."""
    import numpy as np
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS

    import csml_mm  # noqa: F401
    from csml_mm.datasets import fashion_mnist as fm

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 30)
    rng.shuffle(labels)
    imgs = rng.integers(0, 256, (300, 28, 28))
    for prefix, n in (('train', 300), ('t10k', 20)):
        write_idx(tmp_path / f'{prefix}-images-idx3-ubyte.gz', imgs[:n], 0x803)
        write_idx(tmp_path / f'{prefix}-labels-idx1-ubyte.gz', labels[:n], 0x801)
    monkeypatch.setenv('FASHION_MNIST_ROOT', str(tmp_path))
    fm._CACHE.clear()
    out = tmp_path / 'sub.txt'
    tool.main(['fashion-mnist:train', str(out), '--percent', '10', '--seed', '0'])
    sub = _read(out)
    assert len(sub) == 30 and Counter(lbl for _, lbl in sub) == {c: 3 for c in range(10)}
    for idx, lbl in sub:
        assert labels[int(idx)] == lbl
    init_default_scope('mmpretrain')
    ds = DATASETS.build(dict(type='FashionMNISTGz', split='train', subset_file=str(out), pad=0))
    assert len(ds) == 30
    for k, (idx, lbl) in enumerate(sub):  # the file's order
        item = ds[k]
        assert item['gt_label'] == lbl
        np.testing.assert_array_equal(item['img'][..., 0], imgs[int(idx)])
    # the same file against the test split: labels differ -> a clear error
    bad = tmp_path / 'bad.txt'
    first = sub[0]
    wrong = (first[1] + 1) % 10
    bad.write_text(f'{first[0]} {wrong}\n')
    with pytest.raises(ValueError, match='listed with label'):
        DATASETS.build(dict(type='FashionMNISTGz', split='train', subset_file=str(bad)))
    with pytest.raises(FileNotFoundError, match='make_label_subset'):
        DATASETS.build(dict(type='FashionMNISTGz', split='train', subset_file='no/such/subset.txt'))
    fm._CACHE.clear()
