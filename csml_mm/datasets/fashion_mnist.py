# Copyright (c) csml_mm contributors. All rights reserved.
"""Fashion-MNIST read straight from the original IDX ``.gz`` files.

Debian ships the dataset as ``dataset-fashion-mnist`` (``apt-get install
dataset-fashion-mnist``): the four original files under
``/usr/share/datasets/fashion-mnist``. mmpretrain's ``FashionMNIST`` expects
unpacked files in its own layout and offers to download them; this reader
takes the packaged ``.gz`` files as they are and never downloads.
"""
import gzip
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

#: Where Debian's ``dataset-fashion-mnist`` package puts the files.
DEFAULT_ROOT = '/usr/share/datasets/fashion-mnist'
#: Environment variable that overrides :data:`DEFAULT_ROOT`.
ROOT_ENV = 'FASHION_MNIST_ROOT'

CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
           'Sneaker', 'Bag', 'Ankle boot')

_FILES = {
    'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
    'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'),
}
_CACHE = {}


def default_root() -> str:
    """``$FASHION_MNIST_ROOT`` if set, else Debian's install directory."""
    return os.environ.get(ROOT_ENV) or DEFAULT_ROOT


def missing_message(path: str) -> str:
    return (f'Fashion-MNIST file not found: {path}. Install it with '
            '`apt-get install dataset-fashion-mnist` (Debian/Ubuntu; `make setup` does this '
            'when run as root), or put the four original IDX .gz files in a folder and point '
            f'the config key `data_root` (or the environment variable {ROOT_ENV}) at it.')


def fashion_mnist_available(data_root: Optional[str] = None) -> bool:
    root = data_root or default_root()
    return all(osp.isfile(osp.join(root, f)) for pair in _FILES.values() for f in pair)


def _read_idx(path: str, magic: int, ndim: int) -> np.ndarray:
    """Parse an IDX file: big-endian magic, ``ndim`` int32 sizes, then uint8 data."""
    if not osp.isfile(path):
        raise FileNotFoundError(missing_message(path))
    try:
        with gzip.open(path, 'rb') as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise OSError(f'Fashion-MNIST file {path} is not a readable gzip file ({e}); '
                      'reinstall it with `apt-get install --reinstall dataset-fashion-mnist`.'
                      ) from e
    header = 4 * (1 + ndim)
    if len(raw) < header or int.from_bytes(raw[:4], 'big') != magic:
        raise ValueError(f'{path} is not an IDX file with magic {magic:#x}; is it the right '
                         'Fashion-MNIST file?')
    shape = tuple(int.from_bytes(raw[4 * (i + 1):4 * (i + 2)], 'big') for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if data.size != int(np.prod(shape)):
        raise ValueError(f'{path} is truncated: its header promises {shape} values, the file '
                         f'holds {data.size}. Reinstall the file.')
    return data.reshape(shape)


def load_fashion_mnist(data_root: str, split: str) -> Tuple[np.ndarray, np.ndarray]:
    """Return ``(images (N, 28, 28) uint8, labels (N,) int64)`` of ``'train'`` or ``'test'``."""
    if split not in _FILES:
        raise ValueError(f'Fashion-MNIST split must be one of {sorted(_FILES)}, got {split!r}.')
    key = (osp.abspath(data_root), split)
    if key not in _CACHE:
        img_file, lbl_file = (osp.join(data_root, f) for f in _FILES[split])
        images = _read_idx(img_file, 0x803, 3)
        labels = _read_idx(lbl_file, 0x801, 1).astype(np.int64)
        if len(images) != len(labels):
            raise ValueError(f'{img_file} has {len(images)} images but {lbl_file} has '
                             f'{len(labels)} labels.')
        images.setflags(write=False)
        labels.setflags(write=False)
        _CACHE[key] = (images, labels)
    return _CACHE[key]


@DATASETS.register_module()
class FashionMNISTGz(BaseDataset):
    """Fashion-MNIST (Xiao et al. 2017) from the original ``.gz`` files, in memory.

    Every item is a ``(S, S, 3)`` ``uint8`` BGR array (the grey image in all three
    channels, zero-padded by ``pad`` pixels on each side: ``S = 28 + 2 * pad``) plus
    ``gt_label``, so the pipelines of the embedded digits sets (no
    ``LoadImageFromFile``) apply unchanged.

    Args:
        split: ``'train'`` (60,000 images) or ``'test'`` (10,000).
        data_root: Folder of the four IDX ``.gz`` files; default
            ``$FASHION_MNIST_ROOT`` or ``/usr/share/datasets/fashion-mnist``.
        num_samples: Keep the first ``num_samples`` images (``None``: all).
        pad: Zero border in pixels (2 gives the 32 px of the CIFAR recipes).
        pipeline: Transforms.
    """
    METAINFO = {'classes': CLASSES}

    def __init__(self, split: str = 'train', data_root: Optional[str] = None,
                 num_samples: Optional[int] = None, pad: int = 2,
                 pipeline: Sequence = (), test_mode: bool = False, **kwargs) -> None:
        if split not in _FILES:
            raise ValueError(f'FashionMNISTGz: split must be "train" or "test", got {split!r}.')
        if num_samples is not None and num_samples < 1:
            raise ValueError(f'FashionMNISTGz: num_samples must be >= 1 or None, '
                             f'got {num_samples}.')
        if pad < 0:
            raise ValueError(f'FashionMNISTGz: pad must be >= 0, got {pad}.')
        self.split = split
        self.num_samples = num_samples
        self.pad = int(pad)
        super().__init__(ann_file='', data_root=data_root or default_root(),
                         pipeline=pipeline, test_mode=test_mode, **kwargs)

    def load_data_list(self) -> List[dict]:
        images, labels = load_fashion_mnist(self.data_root, self.split)
        if self.num_samples is not None:
            images, labels = images[:self.num_samples], labels[:self.num_samples]
        p = self.pad
        out = np.zeros((len(images), 28 + 2 * p, 28 + 2 * p, 3), dtype=np.uint8)
        out[:, p:p + 28, p:p + 28, :] = images[..., None]
        return [dict(img=out[i], gt_label=int(labels[i]), img_shape=out.shape[1:3],
                     ori_shape=out.shape[1:3]) for i in range(len(out))]

    def extra_repr(self) -> List[str]:
        return [f'Split: \t{self.split}', f'Data root: \t{self.data_root}',
                f'Padding: \t{self.pad}']
