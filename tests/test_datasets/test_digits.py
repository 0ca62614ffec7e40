# Copyright (c) csml_mm contributors. All rights reserved.
"""Tests of the embedded ``Digits`` and ``DigitsComposite`` datasets."""

import hashlib
import sys

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from csml_mm.datasets import Digits, DigitsComposite
from csml_mm.datasets import digits as digits_mod

NUM_SOURCES = 1797
SPD = 4  # default samples_per_digit


def _images(dataset) -> np.ndarray:
    return np.stack([dataset.get_data_info(i)['img'] for i in range(len(dataset))])


def _sources(dataset) -> np.ndarray:
    return np.array([dataset.get_data_info(i)['source_index'] for i in range(len(dataset))])


def knn_top1(
    bank: np.ndarray,
    bank_labels: np.ndarray,
    queries: np.ndarray,
    query_labels: np.ndarray,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int = 10,
) -> float:
    """Raw-pixel cosine kNN with an exp(sim / T) weighted vote."""

    def normalise(x):
        x = x.reshape(len(x), -1).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-12)

    sim = normalise(queries) @ normalise(bank).T
    idx = np.argpartition(-sim, k, axis=1)[:, :k]
    top_sim = np.take_along_axis(sim, idx, axis=1).astype(np.float64)
    weights = np.exp(top_sim / temperature)
    votes = np.zeros((len(queries), num_classes))
    rows = np.repeat(np.arange(len(queries)), k)
    np.add.at(votes, (rows, bank_labels[idx].ravel()), weights.ravel())
    return float((votes.argmax(1) == query_labels).mean())


@pytest.fixture(scope='module')
def digits():
    return {s: Digits(split=s) for s in ('train', 'val', 'all')}


@pytest.fixture(scope='module')
def composite():
    return {s: DigitsComposite(split=s) for s in ('train', 'val')}


@pytest.mark.parametrize('cls', [Digits, DigitsComposite])
def test_bad_split_raises(cls):
    with pytest.raises(ValueError) as err:
        cls(split='test')
    for valid in ('train', 'val', 'all'):
        assert repr(valid) in str(err.value)


def test_digits_items(digits):
    assert len(digits['all']) == NUM_SOURCES
    assert len(digits['train']) + len(digits['val']) == NUM_SOURCES
    assert digits['all'].CLASSES == tuple(str(i) for i in range(10))
    assert digits['all'].metainfo['classes'] == digits['all'].CLASSES

    info = digits['all'].get_data_info(0)
    assert set(info) >= {'img', 'gt_label', 'source_index', 'img_shape', 'ori_shape'}
    assert info['img_shape'] == (32, 32) and info['ori_shape'] == (32, 32)
    imgs = _images(digits['all'])
    assert imgs.shape == (NUM_SOURCES, 32, 32, 3) and imgs.dtype == np.uint8
    # grey: three identical channels, black background, bright ink
    assert (imgs[..., 0] == imgs[..., 1]).all()
    assert (imgs[..., 0] == imgs[..., 2]).all()
    assert (imgs[:, 0, 0] == 0).all()
    assert imgs.max() == 255

    from sklearn.datasets import load_digits

    target = load_digits().target
    labels = digits['all'].get_gt_labels()
    assert labels.shape == (NUM_SOURCES,)
    np.testing.assert_array_equal(labels, target)
    np.testing.assert_array_equal(_sources(digits['all']), np.arange(NUM_SOURCES))


def test_composite_items(composite):
    train, val = composite['train'], composite['val']
    assert len(train) + len(val) == NUM_SOURCES * SPD
    info = train.get_data_info(0)
    assert info['img'].shape == (32, 32, 3)
    assert info['img'].dtype == np.uint8
    assert info['img_shape'] == (32, 32) and info['ori_shape'] == (32, 32)
    labels = train.get_gt_labels()
    assert len(labels) == len(train)
    assert labels.min() == 0 and labels.max() == 9
    # labels follow the source digit
    target = digits_mod.load_source_digits()[1]
    np.testing.assert_array_equal(labels, target[_sources(train)])
    # colour, not grey
    imgs = _images(val)
    assert (imgs[..., 0] != imgs[..., 2]).mean() > 0.5
    # the renderings of one source (consecutive items) all differ
    by_source = imgs.reshape(-1, SPD, 32 * 32 * 3)
    for i in range(SPD):
        for j in range(i):
            assert (by_source[:, i] != by_source[:, j]).any(axis=1).all()


@pytest.mark.parametrize('name', ['digits', 'composite'])
def test_split_is_over_sources(name, request):
    datasets = request.getfixturevalue(name)
    spd = 1 if name == 'digits' else SPD
    train_src = _sources(datasets['train'])
    val_src = _sources(datasets['val'])
    assert not set(train_src) & set(val_src)
    assert set(train_src) | set(val_src) == set(range(NUM_SOURCES))
    for src in (train_src, val_src):
        counts = np.bincount(src, minlength=NUM_SOURCES)
        assert set(counts[counts > 0]) == {spd}


@pytest.mark.parametrize('val_fraction', [0.2, 0.37])
def test_val_class_balance(val_fraction, digits):
    val = Digits(split='val', val_fraction=val_fraction)
    all_counts = np.bincount(digits['all'].get_gt_labels(), minlength=10)
    val_counts = np.bincount(val.get_gt_labels(), minlength=10)
    assert (np.abs(val_counts - val_fraction * all_counts) <= 1).all()
    # a different split seed gives a different, equally balanced split
    other = Digits(split='val', val_fraction=val_fraction, split_seed=1)
    np.testing.assert_array_equal(np.bincount(other.get_gt_labels(), minlength=10), val_counts)
    assert set(_sources(other)) != set(_sources(val))


def test_composite_same_split_as_digits(digits, composite):
    assert set(_sources(composite['val'])) == set(_sources(digits['val']))


def test_determinism(monkeypatch):
    kwargs = dict(split='val', samples_per_digit=1)
    first = _images(DigitsComposite(**kwargs))
    # empty the module cache so that the second build really regenerates
    monkeypatch.setattr(digits_mod, '_CACHE', {})
    second = _images(DigitsComposite(**kwargs))
    np.testing.assert_array_equal(first, second)
    other = _images(DigitsComposite(seed=1, **kwargs))
    assert other.shape == first.shape
    assert (other != first).any(axis=(1, 2, 3)).mean() > 0.99


def _digest(spd: int, seed: int) -> str:
    plain = digits_mod.render_plain_digits()[0]
    comp = digits_mod.render_composite_digits(spd, seed)[0]
    return hashlib.sha256(plain.tobytes() + comp.tobytes()).hexdigest()


@pytest.mark.slow
def test_same_bytes_in_a_fresh_interpreter(repo_root):
    """Generation depends on nothing but the seeds: a new process (no cache, other
    memory layout, other hash seed) renders exactly the same bytes."""
    import subprocess

    code = (
        'import hashlib; from csml_mm.datasets import digits as d; '
        'p = d.render_plain_digits()[0]; '
        f'c = d.render_composite_digits({SPD}, 0)[0]; '
        'print(hashlib.sha256(p.tobytes() + c.tobytes()).hexdigest())'
    )
    out = subprocess.run(
        [sys.executable, '-c', code],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=300,
        env={'PYTHONHASHSEED': '123', **__import__('os').environ},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == _digest(SPD, 0)


def test_cache_avoids_regeneration(composite, monkeypatch):

    def fail(*args, **kwargs):
        raise AssertionError('backgrounds were loaded again')

    monkeypatch.setattr(digits_mod, 'load_backgrounds', fail)
    val = DigitsComposite(split='val')
    assert len(val) == len(composite['val'])


def test_lazy_init_and_no_serialization():
    dataset = Digits(split='val', lazy_init=True, serialize_data=False)
    assert not dataset._fully_initialized
    assert len(dataset) == len(Digits(split='val'))
    img = dataset[0]['img']
    img[:] = 7  # an item is a copy: writing to it leaves the dataset intact
    assert not (dataset[0]['img'] == 7).all()


def test_missing_skimage(monkeypatch):
    monkeypatch.setattr(digits_mod, '_CACHE', {})
    monkeypatch.setitem(sys.modules, 'skimage', None)
    monkeypatch.setitem(sys.modules, 'skimage.data', None)
    with pytest.raises(ImportError, match='scikit-image'):
        DigitsComposite(split='val', samples_per_digit=1)
    # the plain variant does not need it
    assert len(Digits(split='val')) > 0


@pytest.mark.parametrize('cls', [Digits, DigitsComposite])
def test_pipeline(cls):
    init_default_scope('mmpretrain')
    dataset = cls(split='val', pipeline=[dict(type='PackInputs')])
    out = dataset[3]
    inputs = out['inputs']
    assert isinstance(inputs, torch.Tensor)
    assert inputs.shape == (3, 32, 32) and inputs.dtype == torch.uint8
    info = dataset.get_data_info(3)
    assert out['data_samples'].gt_label.tolist() == [info['gt_label']]
    np.testing.assert_array_equal(inputs.permute(1, 2, 0).numpy(), info['img'])


def test_composite_is_harder_for_raw_pixels(digits, composite):
    accs = {}
    for name, ds in (('Digits', digits), ('DigitsComposite', composite)):
        accs[name] = knn_top1(
            _images(ds['train']),
            ds['train'].get_gt_labels(),
            _images(ds['val']),
            ds['val'].get_gt_labels(),
        )
    print(f'raw-pixel kNN top-1 (k=20, cosine, T=0.07): {accs}')
    assert accs['Digits'] > 0.9
    assert accs['DigitsComposite'] < 0.5
