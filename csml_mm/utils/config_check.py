"""Catch config mistakes before the Runner silently ignores them."""
import difflib
from typing import Iterable

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
