"""Catch config mistakes before the Runner silently ignores them."""

import difflib
import os
import os.path as osp
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Tuple

from mmengine.config import Config

#: Top-level keys the mmengine Runner (and csml_mm's tools) read.
RUNNER_KEYS = (
    'model',
    'work_dir',
    'train_dataloader',
    'val_dataloader',
    'test_dataloader',
    'train_cfg',
    'val_cfg',
    'test_cfg',
    'auto_scale_lr',
    'optim_wrapper',
    'param_scheduler',
    'val_evaluator',
    'test_evaluator',
    'default_hooks',
    'custom_hooks',
    'data_preprocessor',
    'load_from',
    'resume',
    'launcher',
    'env_cfg',
    'log_processor',
    'log_level',
    'visualizer',
    'default_scope',
    'randomness',
    'experiment_name',
    'custom_imports',
    'model_wrapper_cfg',
    'find_unused_parameters',
    'knn_cfg',
    'runner_type',
    'corrupt_images',
)


def find_key_typos(
    keys: Iterable[str], known: Iterable[str] = RUNNER_KEYS, cutoff: float = 0.85
) -> dict:
    """Map each key that is not known but nearly equals a known one to that key."""
    known = tuple(known)
    typos = {}
    for key in keys:
        if key in known or key.startswith('_'):
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=cutoff)
        if close:
            typos[key] = close[0]
    return typos


def check_config(cfg: Config) -> None:
    """Raise a ``KeyError`` naming likely typos among the top-level config keys.

    mmengine ignores unknown top-level keys, so ``train_dataloder = ...`` would
    train with the base config's loader without a word.
    """
    typos = find_key_typos(cfg.keys())
    if typos:
        lines = ', '.join(f'{k!r} (did you mean {v!r}?)' for k, v in typos.items())
        raise KeyError(
            f'Unknown top-level config key(s): {lines}. The Runner ignores unknown '
            'keys, so fix the spelling in the config or in --cfg-options.'
        )
    if cfg.get('train_dataloader') is not None and 'dataset' not in cfg.train_dataloader:
        raise KeyError(
            'train_dataloader has no `dataset`; see configs/_base_/datasets/ for examples.'
        )


#: Top-level config variables that loaders copy when the config file is read: overriding them
#: afterwards (``--cfg-options data_root=...``) changes the variable and no loader. Each maps to
#: the environment variable that the ``_folder`` configs read instead (docs/own_data.md).
PARSE_TIME_VARIABLES = {'data_root': 'CSML_DATA_ROOT', 'eval_root': 'CSML_EVAL_ROOT'}


def check_cfg_options(options: Optional[Mapping[str, Any]]) -> None:
    """Refuse ``--cfg-options`` that would silently change nothing the run reads.

    mmengine resolves a config's top-level variables (``data_root = ...`` and every
    ``{{_base_.data_root}}``) while it reads the file, so the dataloaders already hold copies
    of the value; overriding the variable afterwards leaves them on the old folder.
    """
    for key in options or {}:
        if key in PARSE_TIME_VARIABLES:
            raise ValueError(
                f'--cfg-options {key}=... would only change the top-level variable `{key}`: '
                'the dataloaders copied its value when the config was read, so they would '
                f'still read the old folder. For the *_folder.py configs set the environment '
                f'variable instead ({PARSE_TIME_VARIABLES[key]}=/path python tools/...; '
                'docs/own_data.md); for other configs override the data_root of each loader, '
                'e.g. train_dataloader.dataset.data_root=/path.'
            )


def find_in_config(
    node: Any, match: Callable[[Mapping], bool], where: str = ''
) -> Iterator[Tuple[str, Mapping]]:
    """Yield ``(dotted path, dict)`` for every dict of a config tree that ``match`` accepts,
    outermost first; list items are numbered (``custom_hooks.0.dataloader``), the form
    ``--cfg-options`` takes."""
    if isinstance(node, Mapping):
        if match(node):
            yield where, node
        for key, value in node.items():
            yield from find_in_config(value, match, f'{where}.{key}' if where else str(key))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from find_in_config(value, match, f'{where}.{i}')


def _folder_datasets(node: Any, where: str) -> Iterator[Tuple[str, Mapping]]:
    """Yield ``(config path, dataset dict)`` for every ``CustomDataset`` in a config tree."""
    return find_in_config(node, lambda d: d.get('type') == 'CustomDataset', where)


def check_folder_roots(cfg: Config) -> None:
    """Raise a ``FileNotFoundError`` naming the setting when an image folder is missing.

    Checks every ``CustomDataset`` without an ``ann_file`` (an image folder read by listing
    it) whose local ``data_root``/``data_prefix`` does not exist, so that a run stops before
    building the model, with the environment variables of the ``_folder`` configs in the
    message instead of a bare ``No such file or directory``.
    """
    for where, ds in _folder_datasets(cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg, ''):
        root, prefix = ds.get('data_root') or '', ds.get('data_prefix') or ''
        if ds.get('ann_file') or not isinstance(root, str) or '://' in root:
            continue
        path = osp.join(root, prefix) if isinstance(prefix, str) else root
        if path and not osp.isdir(path):
            raise FileNotFoundError(
                f'{where}: the image folder {path!r} does not exist (relative paths start at '
                f'{os.getcwd()}). The *_folder.py configs take it from CSML_DATA_ROOT '
                '(unlabelled images) and CSML_EVAL_ROOT (labelled train/<class>/*, '
                'val/<class>/*) when the config is read: docs/own_data.md.'
            )


#: Loaders that ``tools/train.py`` reads (``val_dataloader`` only while validation is on).
TRAIN_DATA_KEYS = ('train_dataloader', 'val_dataloader', 'custom_hooks')


def _dataset_dicts(node: Any, where: str) -> Iterator[Tuple[str, Mapping]]:
    """Yield ``(config path, dict)`` for every dataset-like dict (one with a ``type`` and a
    ``data_root`` or ``ann_file``) in a config tree, wrapped datasets included."""
    return find_in_config(
        node, lambda d: 'type' in d and ('data_root' in d or 'ann_file' in d), where
    )


def _is_local(path: Any) -> bool:
    return isinstance(path, str) and bool(path) and '://' not in path


def _dataset_class(ds: Mapping) -> Any:
    """The class a dataset dict names (its ``type``, looked up in mmpretrain's registry).

    Args:
        ds (Mapping): A dataset config with a ``type``.

    Returns:
        Any: The class, or None when the type is unknown or the registry cannot be imported
        (then there is nothing to say about its layout).
    """
    try:
        from mmpretrain.registry import DATASETS

        return DATASETS.get(ds['type']) if isinstance(ds['type'], str) else ds['type']
    except Exception:
        return None


def _expected_layout(ds: Mapping, root: str) -> Optional[str]:
    """For datasets that read fixed files under ``data_root`` (mmpretrain's CIFAR10/100), a
    description of the first missing one; ``None`` when complete or unknown."""
    cls = _dataset_class(ds)
    folder = getattr(cls, 'base_folder', None)
    if not isinstance(folder, str) or not hasattr(cls, 'train_list'):
        return None
    split = ds.get('split', 'train')
    files = [f for f, _ in (cls.train_list if split == 'train' else cls.test_list)]
    meta = getattr(cls, 'meta', None)
    if isinstance(meta, dict) and meta.get('filename'):
        files.append(meta['filename'])
    missing = [f for f in files if not osp.isfile(osp.join(root, folder, f))]
    if not missing:
        return None
    return (
        f'{cls.__name__} reads the python version of the data set from '
        f'{osp.join(root, folder)}/ ({", ".join(files)}); missing: {", ".join(missing)}'
    )


def _layout_hint(ds: Mapping) -> str:
    """`` (CIFAR10 reads cifar-10-batches-py/ in it)`` for datasets with a fixed layout."""
    cls = _dataset_class(ds)
    folder = getattr(cls, 'base_folder', None)
    if not isinstance(folder, str):
        return ''
    return f' ({cls.__name__} reads {folder}/, the python version of the data set, in it)'


def check_data_roots(cfg: Config, keys: Iterable[str] = TRAIN_DATA_KEYS) -> None:
    """Raise :class:`~csml_mm.utils.errors.MissingDataError` before any model is built when a
    dataset of the loaders under ``keys`` names a local ``data_root`` or ``ann_file`` that
    does not exist (or, for CIFAR-10/100, lacks the files the class reads).

    The message names every config key that holds the missing path (each loader keeps its
    own copy of ``data_root``), the ``--cfg-options`` that points them elsewhere, and never
    a download: csml_mm does not fetch data sets.
    """
    from .errors import MissingDataError

    tree = cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg)
    missing: dict = {}  # path -> (config keys, detail)
    for key in keys:
        if key == 'val_dataloader' and not tree.get('val_cfg'):
            continue
        node: Any = tree
        for part in key.split('.'):  # dotted keys, e.g. knn_cfg.val_dataloader
            node = node.get(part) if isinstance(node, Mapping) else None
        for where, ds in _dataset_dicts(node, key):
            root = ds.get('data_root')
            detail = None
            if _is_local(root):
                if not osp.isdir(root):
                    detail = 'does not exist' + _layout_hint(ds)
                else:
                    detail = _expected_layout(ds, root)
                if detail is not None:
                    keys_, _ = missing.setdefault(root, ([], detail))
                    keys_.append(f'{where}.data_root')
                    continue
            ann = ds.get('ann_file')
            if _is_local(ann):
                path = ann if osp.isabs(ann) or not _is_local(root) else osp.join(root, ann)
                if not osp.isfile(path):
                    keys_, _ = missing.setdefault(path, ([], 'does not exist'))
                    keys_.append(f'{where}.ann_file')
    if not missing:
        return
    lines = []
    for path, (where, detail) in missing.items():
        options = ' '.join(
            f'{w}=/path/to/' + ('data' if w.endswith('data_root') else 'ann.txt') for w in where
        )
        lines.append(
            f'{path!r} {detail} (relative paths start at {os.getcwd()}); it is set '
            f'by {", ".join(where)}: put the data there (or a link to it) or pass '
            f'--cfg-options {options}'
        )
    raise MissingDataError('Missing training data: ' + '; '.join(lines) + '. See docs/data.md.')
