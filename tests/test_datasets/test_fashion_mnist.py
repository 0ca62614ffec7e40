"""FashionMNISTGz: IDX parsing against hand-written files, padding, errors that name the fix."""

import gzip
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS

import csml_mm  # noqa: F401
from csml_mm.datasets import fashion_mnist as fm

init_default_scope('mmpretrain')


def make_root(tmp_path, write_idx, n_train=12, n_test=5):
    rng = np.random.default_rng(0)
    data = {}
    for split, n, prefix in (('train', n_train, 'train'), ('test', n_test, 't10k')):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(tmp_path / f'{prefix}-images-idx3-ubyte.gz', imgs, 0x803)
        write_idx(tmp_path / f'{prefix}-labels-idx1-ubyte.gz', labels, 0x801)
        data[split] = (imgs, labels)
    fm._CACHE.clear()
    return data


def test_reads_padded_bgr_images_and_labels(tmp_path, write_idx):
    data = make_root(tmp_path, write_idx)
    ds = DATASETS.build(dict(type='FashionMNISTGz', split='train', data_root=str(tmp_path)))
    assert len(ds) == 12
    assert ds.metainfo['classes'][0] == 'T-shirt/top'
    imgs, labels = data['train']
    for i in (0, 7, 11):
        item = ds[i]
        assert item['img'].shape == (32, 32, 3) and item['img'].dtype == np.uint8
        for c in range(3):
            np.testing.assert_array_equal(item['img'][2:30, 2:30, c], imgs[i])
        assert item['img'][:2].max() == 0 and item['img'][:, 30:].max() == 0
        assert item['gt_label'] == labels[i]
    test = DATASETS.build(
        dict(type='FashionMNISTGz', split='test', data_root=str(tmp_path), pad=0, num_samples=3)
    )
    assert len(test) == 3 and test[2]['img'].shape == (28, 28, 3)
    np.testing.assert_array_equal(test[2]['img'][..., 1], data['test'][0][2])


def test_environment_variable_sets_the_default_root(tmp_path, monkeypatch, write_idx):
    make_root(tmp_path, write_idx)
    monkeypatch.setenv('FASHION_MNIST_ROOT', str(tmp_path))
    assert fm.fashion_mnist_available()
    assert len(DATASETS.build(dict(type='FashionMNISTGz', split='test'))) == 5


def test_missing_file_names_the_package_and_the_config_key(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        DATASETS.build(dict(type='FashionMNISTGz', split='train', data_root=str(tmp_path)))
    msg = str(e.value)
    assert 'apt-get install dataset-fashion-mnist' in msg and 'data_root' in msg
    assert osp.join(str(tmp_path), 'train-images-idx3-ubyte.gz') in msg
    assert not fm.fashion_mnist_available(str(tmp_path))


def test_truncated_and_wrong_files_are_reported(tmp_path, write_idx):
    make_root(tmp_path, write_idx)
    path = tmp_path / 'train-images-idx3-ubyte.gz'
    raw = gzip.open(path).read()
    with gzip.open(path, 'wb') as f:
        f.write(raw[:-100])
    fm._CACHE.clear()
    with pytest.raises(ValueError, match='truncated'):
        DATASETS.build(dict(type='FashionMNISTGz', split='train', data_root=str(tmp_path)))
    os.replace(tmp_path / 't10k-labels-idx1-ubyte.gz', tmp_path / 't10k-images-idx3-ubyte.gz')
    with pytest.raises(ValueError, match='magic'):
        DATASETS.build(dict(type='FashionMNISTGz', split='test', data_root=str(tmp_path)))
    (tmp_path / 'train-labels-idx1-ubyte.gz').write_bytes(b'not gzip at all')
    with pytest.raises(OSError, match='not a readable gzip'):
        fm._read_idx(str(tmp_path / 'train-labels-idx1-ubyte.gz'), 0x801, 1)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='split'):
        DATASETS.build(dict(type='FashionMNISTGz', split='val', data_root=str(tmp_path)))
    with pytest.raises(ValueError, match='num_samples'):
        DATASETS.build(dict(type='FashionMNISTGz', num_samples=0, data_root=str(tmp_path)))


@pytest.mark.skipif(
    not fm.fashion_mnist_available(fm.DEFAULT_ROOT),
    reason='dataset-fashion-mnist is not installed (make setup installs it)',
)
def test_installed_package_has_the_published_sizes():
    train = fm.load_fashion_mnist(fm.DEFAULT_ROOT, 'train')
    test = fm.load_fashion_mnist(fm.DEFAULT_ROOT, 'test')
    assert train[0].shape == (60000, 28, 28) and test[0].shape == (10000, 28, 28)
    assert np.bincount(train[1]).tolist() == [6000] * 10
