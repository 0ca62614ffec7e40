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

CLASSES = (
    'T-shirt/top',
    'Trouser',
    'Pullover',
    'Dress',
    'Coat',
    'Sandal',
    'Shirt',
    'Sneaker',
    'Bag',
    'Ankle boot',
)

_FILES = {
    'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
    'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'),
}
_CACHE = {}


def default_root() -> str:
    """``$FASHION_MNIST_ROOT`` if set, else Debian's install directory."""
    return os.environ.get(ROOT_ENV) or DEFAULT_ROOT


def missing_message(path: str) -> str:
    return (
        f'Fashion-MNIST file not found: {path}. Install it with '
        '`apt-get install dataset-fashion-mnist` (Debian/Ubuntu; `make setup` does this '
        'when run as root), or put the four original IDX .gz files in a folder and point '
        f'the config key `data_root` (or the environment variable {ROOT_ENV}) at it.'
    )


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
        raise OSError(
            f'Fashion-MNIST file {path} is not a readable gzip file ({e}); '
            'reinstall it with `apt-get install --reinstall dataset-fashion-mnist`.'
        ) from e
    header = 4 * (1 + ndim)
    if len(raw) < header or int.from_bytes(raw[:4], 'big') != magic:
        raise ValueError(
            f'{path} is not an IDX file with magic {magic:#x}; is it the right Fashion-MNIST file?'
        )
    shape = tuple(int.from_bytes(raw[4 * (i + 1) : 4 * (i + 2)], 'big') for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if data.size != int(np.prod(shape)):
        raise ValueError(
            f'{path} is truncated: its header promises {shape} values, the file '
            f'holds {data.size}. Reinstall the file.'
        )
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
            raise ValueError(
                f'{img_file} has {len(images)} images but {lbl_file} has {len(labels)} labels.'
            )
        images.setflags(write=False)
        labels.setflags(write=False)
        _CACHE[key] = (images, labels)
    return _CACHE[key]


def _resolve_subset_file(path: str) -> str:
    if osp.isabs(path) or osp.isfile(path):
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'FashionMNISTGz: subset_file {path} does not exist; make '
                'it with tools/dataset_converters/make_label_subset.py.'
            )
        return path
    from csml_mm.utils.paths import package_path

    try:
        return package_path(path)
    except FileNotFoundError:
        raise FileNotFoundError(
            f'FashionMNISTGz: subset_file {path} was found neither from the working directory '
            f'({os.getcwd()}) nor among the files shipped with csml_mm; make it with '
            'tools/dataset_converters/make_label_subset.py fashion-mnist:train OUT --percent P.'
        ) from None


def read_subset_file(path: str, labels: np.ndarray) -> np.ndarray:
    """Indices listed in a subset file (``index label`` lines), checked against ``labels``."""
    indices, expected = [], []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or not (parts[0].isdigit() and parts[1].isdigit()):
                raise ValueError(f'{path}:{lineno}: expected "index label", got {line.strip()!r}.')
            indices.append(int(parts[0]))
            expected.append(int(parts[1]))
    if not indices:
        raise ValueError(f'{path} lists no images.')
    idx = np.asarray(indices)
    if idx.max() >= len(labels) or len(set(indices)) != len(indices):
        raise ValueError(
            f'{path}: indices must be distinct and below {len(labels)} (the split '
            'size); was it made for another split?'
        )
    wrong = np.flatnonzero(labels[idx] != np.asarray(expected))
    if len(wrong):
        i = int(wrong[0])
        raise ValueError(
            f'{path}: image {indices[i]} is listed with label {expected[i]} but has '
            f'label {int(labels[idx[i]])}; the file was made for another split or '
            'data set.'
        )
    return idx


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
        subset_file: Keep only the images listed in this file, ``index label`` per line,
            as ``tools/dataset_converters/make_label_subset.py fashion-mnist:<split>``
            writes it (the few-label benchmark's 1% / 10% subsets). Every label must
            match the split's, so a file of another split fails loudly. A relative path
            is looked up from the working directory, then among the files shipped with
            csml_mm (``configs/...``). Applied before ``num_samples``.
        pad: Zero border in pixels (2 gives the 32 px of the CIFAR recipes).
        pipeline: Transforms.
    """

    METAINFO = {'classes': CLASSES}

    def __init__(
        self,
        split: str = 'train',
        data_root: Optional[str] = None,
        num_samples: Optional[int] = None,
        pad: int = 2,
        pipeline: Sequence = (),
        test_mode: bool = False,
        subset_file: Optional[str] = None,
        **kwargs,
    ) -> None:
        if split not in _FILES:
            raise ValueError(f'FashionMNISTGz: split must be "train" or "test", got {split!r}.')
        if num_samples is not None and num_samples < 1:
            raise ValueError(
                f'FashionMNISTGz: num_samples must be >= 1 or None, got {num_samples}.'
            )
        if pad < 0:
            raise ValueError(f'FashionMNISTGz: pad must be >= 0, got {pad}.')
        self.split = split
        self.num_samples = num_samples
        self.subset_file = _resolve_subset_file(subset_file) if subset_file else None
        self.pad = int(pad)
        super().__init__(
            ann_file='',
            data_root=data_root or default_root(),
            pipeline=pipeline,
            test_mode=test_mode,
            **kwargs,
        )

    def load_data_list(self) -> List[dict]:
        images, labels = load_fashion_mnist(self.data_root, self.split)
        if self.subset_file is not None:
            keep = read_subset_file(self.subset_file, labels)
            images, labels = images[keep], labels[keep]
        if self.num_samples is not None:
            images, labels = images[: self.num_samples], labels[: self.num_samples]
        p = self.pad
        out = np.zeros((len(images), 28 + 2 * p, 28 + 2 * p, 3), dtype=np.uint8)
        out[:, p : p + 28, p : p + 28, :] = images[..., None]
        return [
            dict(
                img=out[i],
                gt_label=int(labels[i]),
                img_shape=out.shape[1:3],
                ori_shape=out.shape[1:3],
            )
            for i in range(len(out))
        ]

    def extra_repr(self) -> List[str]:
        out = [f'Split: \t{self.split}', f'Data root: \t{self.data_root}', f'Padding: \t{self.pad}']
        if self.subset_file:
            out.append(f'Subset: \t{self.subset_file}')
        return out
