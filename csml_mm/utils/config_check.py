"""Catch config mistakes before the Runner silently ignores them."""
import difflib
import os
import os.path as osp
from typing import Any, Iterable, Iterator, Mapping, Optional, Tuple

from mmengine.config import Config

#: Top-level keys the mmengine Runner (and csml_mm's tools) read.
RUNNER_KEYS = (
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
    'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler', 'val_evaluator',
    'test_evaluator', 'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from', 'resume',
    'launcher', 'env_cfg', 'log_processor', 'log_level', 'visualizer', 'default_scope',
    'randomness', 'experiment_name', 'custom_imports', 'model_wrapper_cfg',
    'find_unused_parameters', 'knn_cfg', 'runner_type')


def find_key_typos(keys: Iterable[str], known: Iterable[str] = RUNNER_KEYS,
                   cutoff: float = 0.85) -> dict:
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
        raise KeyError(f'Unknown top-level config key(s): {lines}. The Runner ignores unknown '
                       'keys, so fix the spelling in the config or in --cfg-options.')
    if cfg.get('train_dataloader') is not None and 'dataset' not in cfg.train_dataloader:
        raise KeyError('train_dataloader has no `dataset`; see configs/_base_/datasets/ for '
                       'examples.')


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
                'e.g. train_dataloader.dataset.data_root=/path.')


def _folder_datasets(node: Any, where: str) -> Iterator[Tuple[str, Mapping]]:
    """Yield ``(config path, dataset dict)`` for every ``CustomDataset`` in a config tree."""
    if isinstance(node, Mapping):
        if node.get('type') == 'CustomDataset':
            yield where, node
        for key, value in node.items():
            yield from _folder_datasets(value, f'{where}.{key}' if where else str(key))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _folder_datasets(value, f'{where}.{i}')


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
                'val/<class>/*) when the config is read: docs/own_data.md.')
