"""Training-data checks that ``tools/train.py`` runs before the first iteration.

- :func:`apply_corrupt_image_policy`: every ``LoadImageFromFile`` of an mmpretrain config
  becomes :class:`~csml_mm.datasets.transforms.CheckedLoadImageFromFile`; the top-level key
  ``corrupt_images = 'raise' | 'skip'`` picks the training loader's mode.
- :func:`check_train_data`: once the runner is built, the training set must not be empty,
  must fill at least one batch, and the image files its annotation lists must exist.
"""

import copy
import os.path as osp
from typing import Any, List, Optional, Tuple

from mmengine.config import Config

from csml_mm.utils.errors import EmptyDataError, MissingDataError

__all__ = ['apply_corrupt_image_policy', 'check_train_data', 'CORRUPT_IMAGE_MODES']

CORRUPT_IMAGE_MODES = ('raise', 'skip')
_LOADERS = (
    'LoadImageFromFile',
    'mmpretrain.LoadImageFromFile',
    'mmcv.LoadImageFromFile',
    'CheckedLoadImageFromFile',
)


def _rewrite(
    node: Any, mode: str, skip_log: Optional[str], in_wrapper: bool = False, train: bool = False
) -> Any:
    """A copy of ``node`` with every image loader replaced by the checked one."""
    if isinstance(node, dict):
        wrapper = in_wrapper or node.get('type') == 'NeighbourViewsDataset'
        out = {k: _rewrite(v, mode, skip_log, wrapper, train) for k, v in node.items()}
        if out.get('type') in _LOADERS:
            # NeighbourViewsDataset ties the neighbour table to indices: it cannot swap a file.
            own = 'raise' if in_wrapper else mode
            out['type'] = 'CheckedLoadImageFromFile'
            out.setdefault('on_corrupt', own)
            # an oversized image (decompression-bomb guard) never stops a training run where
            # another image can take its place; evaluations must see every image
            out.setdefault('on_oversized', 'skip' if train and not in_wrapper else 'raise')
            if 'skip' in (out['on_corrupt'], out['on_oversized']) and skip_log:
                out.setdefault('skip_log', skip_log)
            out.pop('ignore_empty', None)
        return out
    if isinstance(node, (list, tuple)):
        return type(node)(_rewrite(v, mode, skip_log, in_wrapper, train) for v in node)
    return node


def _skips(node: Any) -> bool:
    """Whether a rewritten loader of ``node`` may skip an image."""
    if isinstance(node, dict):
        if node.get('type') == 'CheckedLoadImageFromFile':
            return 'skip' in (node.get('on_corrupt'), node.get('on_oversized'))
        return any(_skips(v) for v in node.values())
    if isinstance(node, (list, tuple)):
        return any(_skips(v) for v in node)
    return False


def _has_loader(node: Any) -> bool:
    if isinstance(node, dict):
        return node.get('type') in _LOADERS or any(_has_loader(v) for v in node.values())
    if isinstance(node, (list, tuple)):
        return any(_has_loader(v) for v in node)
    return False


def apply_corrupt_image_policy(cfg: Config) -> Optional[str]:
    """Swap in :class:`CheckedLoadImageFromFile` everywhere (mmpretrain-scope configs only);
    return the skip log path when the training loader may skip images, else ``None``.

    ``corrupt_images='skip'`` applies to ``train_dataloader``; every other loader (validation,
    kNN, CsMl's mining pass) raises on a corrupt image. Oversized images (above the loader's
    ``max_pixels``) are always skipped by the training loader, where a wrapper allows it, and
    raise elsewhere. When the training loader may skip, a ``SkippedImagesHook`` is added to
    ``custom_hooks`` to count the skips into the training log.
    """
    mode = cfg.get('corrupt_images', 'raise')
    if mode not in CORRUPT_IMAGE_MODES:
        raise ValueError(f"corrupt_images must be 'raise' or 'skip', got {mode!r}.")
    if cfg.get('default_scope', 'mmpretrain') not in (None, 'mmpretrain'):
        if mode == 'skip':
            raise ValueError(
                'corrupt_images=skip works for mmpretrain configs (default_scope='
                f"'mmpretrain'); this config's scope is {cfg.default_scope!r}."
            )
        return None
    skip_log = osp.join(cfg.get('work_dir') or '.', 'skipped_images.txt')
    skipping = False
    for key in list(cfg.keys()):
        if key.startswith('_'):
            continue
        value = cfg[key]
        if not isinstance(value, (dict, list, tuple)) or not _has_loader(value):
            continue
        train = key == 'train_dataloader'
        own = mode if train else 'raise'
        new = _rewrite(
            value.to_dict() if hasattr(value, 'to_dict') else copy.deepcopy(value),
            own,
            skip_log if train else None,
            train=train,
        )
        skipping = skipping or (train and _skips(new))
        cfg[key] = new
    if not skipping and mode != 'skip':
        return None
    hooks = list(cfg.get('custom_hooks') or [])
    hooks.append(dict(type='SkippedImagesHook', skip_log=skip_log))
    cfg.custom_hooks = hooks
    return skip_log


def _leaf_datasets(dataset: Any) -> List[Any]:
    """The datasets that hold the data list, below wrappers (``dataset``/``datasets``)."""
    inner = getattr(dataset, 'datasets', None)
    if isinstance(inner, (list, tuple)):
        return [d for ds in inner for d in _leaf_datasets(ds)]
    inner = getattr(dataset, 'dataset', None)
    if inner is not None and inner is not dataset:
        return _leaf_datasets(inner)
    return [dataset]


def _source(dataset: Any) -> str:
    """``data_root``/``data_prefix``/``ann_file`` of a dataset, for messages."""
    parts = []
    for attr in ('data_root', 'data_prefix', 'ann_file'):
        value = getattr(dataset, attr, None)
        if value:
            parts.append(f'{attr}={value!r}')
    return ', '.join(parts) or type(dataset).__name__


def _cfg_source(ds_cfg: Any) -> str:
    """``type``/``data_root``/``ann_file`` of a dataset config (and of a wrapped one)."""
    parts = []
    while isinstance(ds_cfg, dict):
        parts += [
            f'{k}={ds_cfg[k]!r}'
            for k in ('type', 'data_root', 'data_prefix', 'ann_file')
            if ds_cfg.get(k)
        ]
        ds_cfg = ds_cfg.get('dataset')
    return ', '.join(parts) or 'not set'


def _missing_files(dataset: Any, max_checked: int) -> Tuple[List[str], int]:
    """Listed image paths that do not exist (local paths only), and how many were checked."""
    get_info = getattr(dataset, 'get_data_info', None)
    n = len(dataset) if hasattr(dataset, '__len__') else 0
    if get_info is None or n == 0:
        return [], 0
    step = max(1, n // max_checked)
    missing, checked = [], 0
    for i in range(0, n, step):
        info = get_info(i)
        path = info.get('img_path') if isinstance(info, dict) else None
        if not isinstance(path, str) or '://' in path:
            if i == 0:
                return [], 0  # in-memory images (digits, CIFAR) or remote storage
            continue
        checked += 1
        if not osp.isfile(path):
            missing.append(path)
    return missing, checked


def check_train_data(runner, max_checked: int = 20000) -> None:
    """Fail before training when the training loader cannot give a full epoch.

    Builds the runner's training loader (``Runner.train`` reuses it) and raises
    :class:`~csml_mm.utils.errors.EmptyDataError` when the dataset is empty or smaller than
    one batch with ``drop_last=True``, and :class:`~csml_mm.utils.errors.MissingDataError`
    when image files that the annotation lists do not exist (all entries up to
    ``max_checked``, an even sample of that many beyond). With ``corrupt_images='skip'``
    missing files only warn: the loader skips them.
    """
    cfg = getattr(runner, 'cfg', None)
    try:
        loader = getattr(runner, 'train_dataloader', None)
    except (RuntimeError, ValueError) as e:  # mmpretrain: 'Found 0 files in subfolders of'
        if 'Found 0 files' not in str(e) and 'is empty' not in str(e):
            raise
        ds_cfg = cfg.get('train_dataloader', {}).get('dataset', {}) if cfg is not None else {}
        raise EmptyDataError(
            f'The training set is empty: {str(e).strip()} (train_dataloader.dataset: '
            f'{_cfg_source(ds_cfg)}). Put images there or point data_root at the folder that '
            'holds them.'
        ) from e
    if loader is None:
        return
    mode = cfg.get('corrupt_images', 'raise') if cfg is not None else 'raise'
    dataset = loader.dataset
    leaves = _leaf_datasets(dataset)
    where = ', '.join(_source(d) for d in leaves)
    size = len(dataset)
    if size == 0:
        raise EmptyDataError(
            f'The training set is empty ({type(dataset).__name__}; {where}): no image was found. '
            'Check train_dataloader.dataset: the folder must hold images (or the annotation '
            'file list them), with the extensions the dataset accepts.'
        )
    batch_size = getattr(loader, 'batch_size', None) or 1
    if len(loader) == 0:
        world = getattr(runner, 'world_size', 1)
        raise EmptyDataError(
            f'The training set has {size} sample(s) but one batch needs {batch_size} per '
            f'process x {world} process(es), and train_dataloader.drop_last=True drops the '
            'incomplete batch, so an epoch would have no iteration. Lower '
            'train_dataloader.batch_size, set train_dataloader.drop_last=False, or add data '
            f'({where}).'
        )
    for leaf in leaves:
        missing, checked = _missing_files(leaf, max_checked)
        if not missing:
            continue
        shown = ', '.join(missing[:5]) + (' ...' if len(missing) > 5 else '')
        msg = (
            f'{len(missing)} of {checked} checked images listed by the training set '
            f'({_source(leaf)}) do not exist: {shown}. Fix the annotation file or the '
            'data_root/data_prefix its paths are relative to.'
        )
        if mode == 'skip':
            runner.logger.warning(msg + ' corrupt_images=skip: these are skipped when drawn.')
        else:
            raise MissingDataError(msg)
