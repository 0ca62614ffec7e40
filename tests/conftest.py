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
