import os
import os.path as osp
import sys

import pytest

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(scope='session')
def repo_root() -> str:
    return ROOT


@pytest.fixture
def subprocess_env() -> dict:
    """Environment for running the repository's tools in a child process."""
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env.setdefault('OMP_NUM_THREADS', '1')
    env['PYTHONUNBUFFERED'] = '1'
    # shell tools call `python` / `$PYTHON`: make both the interpreter running the tests, so a
    # suite started as `.venv/bin/python -m pytest` without an activated venv still finds mmengine
    env['PYTHON'] = sys.executable
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
    return env


def _write_idx(path, arr, magic):
    """Plain IDX writer, independent of the reader: magic, big-endian sizes, then the bytes."""
    import gzip

    import numpy as np

    header = magic.to_bytes(4, 'big') + b''.join(int(s).to_bytes(4, 'big') for s in arr.shape)
    with gzip.open(path, 'wb') as f:
        f.write(header + np.asarray(arr).astype(np.uint8).tobytes())


@pytest.fixture
def write_idx():
    """The IDX (MNIST / Fashion-MNIST) file writer used to build small test copies."""
    return _write_idx


_TINY_MOCO_FOLDER = """_base_ = ['{root}/configs/mocov2/mocov2_resnet50_8xb32-coslr-200e_folder.py']
# MoCo v2 on an image folder at test size: ResNet-18 of width 16, batch 4
model = dict(queue_len={queue_len!r}, feat_dim=16,
             backbone=dict(depth=18, base_channels=16, stem_channels=16,
                           norm_cfg=dict(num_splits=2)),
             neck=dict(in_channels=128, hid_channels=32, out_channels=16))
train_dataloader = dict(batch_size=4, num_workers={num_workers}, persistent_workers=False)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
randomness = dict(seed=0)
"""
_ONE_EPOCH = """train_cfg = dict(max_epochs=1)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=1, by_epoch=True, begin=0, end=1)]
"""


@pytest.fixture(scope='session')
def tiny_moco_folder_config():
    """``make(path, queue_len=16, num_workers=0, one_epoch=True)`` writes a test-sized MoCo v2
    ``_folder`` config (its images: ``CSML_DATA_ROOT``) and returns its path; without
    ``one_epoch`` it keeps the 200-epoch schedule of the base config."""

    def make(path, queue_len=16, num_workers=0, one_epoch=True) -> str:
        text = _TINY_MOCO_FOLDER.format(root=ROOT, queue_len=queue_len, num_workers=num_workers)
        with open(path, 'w') as f:
            f.write(text + (_ONE_EPOCH if one_epoch else ''))
        return str(path)

    return make


def pytest_collection_modifyitems(config, items):
    """Tier rule: a test that runs one of the repository's tools in a child process (it asks for
    ``subprocess_env``) is ``slow``. Tests that train in-process or spawn workers carry the marker
    themselves."""
    for item in items:
        if 'subprocess_env' in getattr(item, 'fixturenames', ()):
            item.add_marker(pytest.mark.slow)
