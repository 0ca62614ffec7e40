"""Bad data: with real image files and real tools/train.py runs, a corrupt or
truncated image stops the run naming the file, or, with ``corrupt_images='skip'``, is skipped
and counted in the log; an empty training set, one smaller than a batch with drop_last, an
annotation file listing missing images and a missing data root (the CIFAR-10 configs without
data/cifar10) stop before training, the last one before the model is built, without ever
suggesting a download."""

import os
import os.path as osp
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

import csml_mm  # noqa: F401
from csml_mm.datasets.data_check import apply_corrupt_image_policy
from csml_mm.datasets.transforms import CheckedLoadImageFromFile
from csml_mm.utils.config_check import check_data_roots
from csml_mm.utils.errors import CorruptImageError, MissingDataError

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
FOLDER_CFG = 'configs/mocov2/mocov2_resnet50_8xb32-coslr-200e_folder.py'
CIFAR_CFG = 'configs/csml/csml_resnet18-cifar_1xb256-coslr-200e_cifar10.py'


# ------------------------------------------------------------------------- files
def _png(path: str, seed: int, size: int = 32) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


def _truncated(src: str, dst: str) -> None:
    data = open(src, 'rb').read()
    with open(dst, 'wb') as f:
        f.write(data[: len(data) // 2])


def _folder(root: str, good: int, truncated: bool = False, garbage: bool = False) -> dict:
    """``good`` PNGs, plus a truncated PNG and a .jpg of random bytes when asked."""
    os.makedirs(root, exist_ok=True)
    for i in range(good):
        _png(osp.join(root, f'img{i:02d}.png'), i)
    bad = {}
    if truncated:
        full = osp.join(osp.dirname(root), f'{osp.basename(root)}_full.png')
        _png(full, 99)
        bad['truncated'] = osp.join(root, 'zz_truncated.png')
        _truncated(full, bad['truncated'])
        os.remove(full)
    if garbage:
        bad['garbage'] = osp.join(root, 'zz_garbage.jpg')
        with open(bad['garbage'], 'wb') as f:
            f.write(np.random.default_rng(5).bytes(700))
    return bad


# ------------------------------------------------------------------ the transform
@pytest.fixture
def images(tmp_path):
    root = str(tmp_path)
    _png(osp.join(root, 'ok.png'), 0)
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(osp.join(root, 'ok.jpg'))
    _truncated(osp.join(root, 'ok.png'), osp.join(root, 'half.png'))
    _truncated(osp.join(root, 'ok.jpg'), osp.join(root, 'half.jpg'))
    with open(osp.join(root, 'garbage.jpg'), 'wb') as f:
        f.write(np.random.default_rng(1).bytes(700))
    open(osp.join(root, 'empty.png'), 'wb').close()
    return root


@pytest.mark.parametrize(
    'name, problem',
    [
        ('half.png', 'truncated PNG'),
        ('half.jpg', 'truncated JPEG'),
        ('garbage.jpg', 'cannot be decoded as an image'),
        ('empty.png', 'empty'),
        ('missing.png', 'does not exist'),
    ],
)
def test_corrupt_image_raises_with_its_path_or_is_skipped(images, name, problem, tmp_path):
    path = osp.join(images, name)
    with pytest.raises(CorruptImageError) as err:
        CheckedLoadImageFromFile()(dict(img_path=path))
    assert str(err.value).startswith(f'Corrupt image {path}: ') and problem in str(err.value)
    assert 'corrupt_images' in str(err.value) and err.value.path == path
    log = str(tmp_path / 'log' / 'skipped.txt')
    skip = CheckedLoadImageFromFile(on_corrupt='skip', skip_log=log)
    assert skip(dict(img_path=path)) is None
    assert open(log).read().startswith(f'{path}\t')


def test_good_images_load_as_with_mmcv(images):
    from mmcv.transforms import LoadImageFromFile

    for name in ('ok.png', 'ok.jpg'):
        ours = CheckedLoadImageFromFile()(dict(img_path=osp.join(images, name)))
        theirs = LoadImageFromFile()(dict(img_path=osp.join(images, name)))
        assert np.array_equal(ours['img'], theirs['img'])
        assert ours['img_shape'] == theirs['img_shape']


def test_skipped_image_is_replaced_by_another_one(tmp_path):
    """mmengine's BaseDataset serves another index when the pipeline returns None."""
    from mmpretrain.registry import DATASETS

    init_default_scope('mmpretrain')
    bad = _folder(str(tmp_path / 'imgs'), 3, truncated=True)
    ds = DATASETS.build(
        dict(
            type='CustomDataset',
            data_root=str(tmp_path / 'imgs'),
            with_label=False,
            pipeline=[dict(type='CheckedLoadImageFromFile', on_corrupt='skip')],
        )
    )
    idx = [ds.get_data_info(i)['img_path'] for i in range(len(ds))].index(bad['truncated'])
    out = ds[idx]
    assert out['img_path'] != bad['truncated'] and out['img'].shape == (32, 32, 3)


def test_policy_rewrites_loaders(tmp_path):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/csml/csml_resnet50_8xb32-coslr-200e_folder.py'))
    cfg.work_dir = str(tmp_path)
    cfg.corrupt_images = 'skip'
    log = apply_corrupt_image_policy(cfg)
    assert log == osp.join(str(tmp_path), 'skipped_images.txt')

    def loaders(node):
        if isinstance(node, dict):
            if node.get('type') in ('LoadImageFromFile', 'CheckedLoadImageFromFile'):
                yield node
            for v in node.values():
                yield from loaders(v)
        elif isinstance(node, (list, tuple)):
            for v in node:
                yield from loaders(v)

    train = list(loaders(cfg.train_dataloader.to_dict()))
    # CsMl's NeighbourViewsDataset ties neighbours to indices: it keeps raising
    assert [t['on_corrupt'] for t in train] == ['raise']
    mining = list(loaders(cfg.mining_dataloader.to_dict()))
    assert mining and all(
        t['type'] == 'CheckedLoadImageFromFile' and t['on_corrupt'] == 'raise' for t in mining
    )
    assert cfg.custom_hooks[-1] == dict(type='SkippedImagesHook', skip_log=log)
    moco = Config.fromfile(osp.join(ROOT, FOLDER_CFG))
    moco.work_dir, moco.corrupt_images = str(tmp_path), 'skip'
    apply_corrupt_image_policy(moco)
    assert [t['on_corrupt'] for t in loaders(moco.train_dataloader.to_dict())] == ['skip']
    moco.corrupt_images = 'sometimes'
    with pytest.raises(ValueError, match="'raise' or 'skip'"):
        apply_corrupt_image_policy(moco)


def test_cifar_root_check_names_keys_and_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(osp.join(ROOT, CIFAR_CFG))
    with pytest.raises(MissingDataError) as err:
        check_data_roots(cfg)
    msg = str(err.value)
    assert "'data/cifar10/' does not exist" in msg
    assert 'train_dataloader.dataset.dataset.data_root' in msg
    assert 'download' not in msg.lower()
    os.makedirs('data/cifar10/cifar-10-batches-py')
    open('data/cifar10/cifar-10-batches-py/data_batch_1', 'w').close()
    with pytest.raises(MissingDataError, match='missing: data_batch_2, data_batch_3') as err:
        check_data_roots(cfg)
    assert 'download' not in str(err.value).lower()


# ------------------------------------------------------------ tools/train.py runs


@pytest.fixture(scope='module')
def runs(tmp_path_factory, tiny_moco_folder_config):
    """The tools/train.py runs of this module, two at a time (each a few seconds)."""
    tmp = str(tmp_path_factory.mktemp('bad_data'))
    cfg = tiny_moco_folder_config(osp.join(tmp, 'mocov2_tiny_folder.py'))
    cases = {}
    # a truncated PNG, read in a dataloader worker: stops with the file's path
    cases['corrupt'] = dict(
        bad=_folder(osp.join(tmp, 'corrupt'), 7, truncated=True),
        args=['--cfg-options', 'train_dataloader.num_workers=1'],
    )
    # a truncated PNG and a garbage .jpg, skipped (in a worker) and counted
    cases['skip'] = dict(
        bad=_folder(osp.join(tmp, 'skip'), 10, truncated=True, garbage=True),
        args=['--cfg-options', 'corrupt_images=skip', 'train_dataloader.num_workers=1'],
    )
    cases['empty'] = dict(bad=_folder(osp.join(tmp, 'empty'), 0), args=[])
    cases['small'] = dict(bad=_folder(osp.join(tmp, 'small'), 3), args=[])  # batch 4, drop_last
    ann_root = osp.join(tmp, 'ann')
    _folder(ann_root, 4)
    with open(osp.join(ann_root, 'train.txt'), 'w') as f:
        f.write('img00.png\nimg01.png\ngone_a.png\nimg02.png\nimg03.png\nsub/gone_b.png\n')
    cases['ann'] = dict(
        bad={}, args=['--cfg-options', 'train_dataloader.dataset.ann_file=train.txt']
    )
    os.makedirs(osp.join(tmp, 'cwd'))  # a directory without data/cifar10
    cifar = [
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'),
        osp.join(ROOT, CIFAR_CFG),
        '--work-dir',
        osp.join(tmp, 'cwd', 'work'),
    ]

    def one(name):
        env = dict(os.environ, OMP_NUM_THREADS='1')
        env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
        if name == 'cifar':
            cmd, cwd = cifar, osp.join(tmp, 'cwd')
        else:
            env['CSML_DATA_ROOT'] = osp.join(tmp, name)
            cmd = [
                sys.executable,
                'tools/train.py',
                cfg,
                '--work-dir',
                osp.join(tmp, f'work_{name}'),
                *cases[name]['args'],
            ]
            cwd = ROOT
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        return dict(
            rc=proc.returncode,
            out=proc.stdout + proc.stderr,
            err=proc.stderr,
            work_dir=osp.join(tmp, f'work_{name}'),
            root=osp.join(tmp, name),
            **cases.get(name, {}),
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(one, name) for name in [*cases, 'cifar']}
        out = {name: f.result() for name, f in futures.items()}
    out['cifar']['work_dir'] = osp.join(tmp, 'cwd', 'work')
    return out


def _error(run) -> str:
    assert run['rc'] != 0, run['out'][-3000:]
    lines = [ln for ln in run['err'].splitlines() if ln.startswith('error: ')]
    assert len(lines) == 1, run['err'][-3000:]
    assert 'Traceback' not in run['err'], run['err'][-3000:]
    return lines[0]


@pytest.mark.slow
def test_truncated_image_stops_the_run_naming_the_file(runs):
    run = runs['corrupt']
    msg = _error(run)
    path = run['bad']['truncated']
    assert msg.startswith(f'error: Corrupt image {path}: it is a truncated PNG'), msg
    assert 'corrupt_images' in msg
    assert not os.path.exists(osp.join(run['work_dir'], 'epoch_1.pth'))


@pytest.mark.slow
def test_skip_mode_skips_and_counts_corrupt_images(runs):
    run = runs['skip']
    assert run['rc'] == 0, run['out'][-3000:]
    log = osp.join(run['work_dir'], 'skipped_images.txt')
    lines = open(log).read().splitlines()
    assert {ln.split('\t')[0] for ln in lines} == set(run['bad'].values())
    for path in run['bad'].values():
        assert f'skipped corrupt image {path}' in run['out']
    total = re.findall(
        r'SkippedImagesHook: (\d+) corrupt or oversized image read\(s\) skipped in this run',
        run['out'],
    )
    assert total == [str(len(lines))], run['out'][-3000:]
    assert 'corrupt or oversized image read(s) skipped so far' in run['out']
    assert osp.isfile(osp.join(run['work_dir'], 'epoch_1.pth'))


@pytest.mark.slow
def test_empty_training_set_stops_before_training(runs):
    msg = _error(runs['empty'])
    assert msg.startswith('error: The training set is empty'), msg
    assert runs['empty']['root'] in msg
    assert 'Epoch(train)' not in runs['empty']['out']


@pytest.mark.slow
def test_set_smaller_than_one_batch_with_drop_last_stops(runs):
    msg = _error(runs['small'])
    assert 'has 3 sample(s) but one batch needs 4' in msg and 'drop_last' in msg, msg
    assert 'Epoch(train)' not in runs['small']['out']


@pytest.mark.slow
def test_annotation_listing_missing_images_stops_before_training(runs):
    run = runs['ann']
    msg = _error(run)
    assert '2 of 6 checked images' in msg, msg
    assert osp.join(run['root'], 'gone_a.png') in msg
    assert osp.join(run['root'], 'sub/gone_b.png') in msg and 'train.txt' in msg
    assert 'Epoch(train)' not in run['out']


@pytest.mark.slow
def test_missing_cifar_root_stops_before_the_model_is_built(runs):
    run = runs['cifar']
    msg = _error(run)
    assert msg.startswith("error: Missing training data: 'data/cifar10/' does not exist"), msg
    assert 'train_dataloader.dataset.dataset.data_root' in msg and '--cfg-options' in msg
    assert 'download' not in run['out'].lower()
    # the Runner (which builds the model) never started: no work dir, no log
    assert not osp.exists(run['work_dir'])
