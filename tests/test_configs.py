"""Every config under configs/ loads and builds its model."""

import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import csml_mm  # noqa: F401

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
CONFIGS = sorted(
    p
    for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p.split(osp.sep)
)


def _is_mmdet(cfg: Config) -> bool:
    return cfg.get('default_scope') == 'mmdet'


def test_there_are_configs():
    assert len(CONFIGS) >= 2


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.get('custom_imports', {}).get('imports') == ['csml_mm'], (
        'every config must carry custom_imports=dict(imports=["csml_mm"])'
    )
    assert cfg.default_scope in ('mmpretrain', 'mmdet')
    from csml_mm.utils import check_config

    check_config(cfg)
    if _is_mmdet(cfg):
        from mmdet.registry import MODELS

        init_default_scope('mmdet')
    else:
        from mmpretrain.registry import MODELS

        init_default_scope('mmpretrain')
    # queue_len='auto' (the small _folder recipes) needs the training data, which these
    # folders do not have here: the evaluation tools' rule (one batch) builds the model
    from csml_mm.utils.run_size import resolve_auto_queue_for_eval

    resolve_auto_queue_for_eval(cfg)
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:  # the Runner's default, as in tools/
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    # Building must not read weights from disk.
    model_cfg.get('backbone', {}).pop('init_cfg', None)
    model = MODELS.build(model_cfg)
    assert sum(p.numel() for p in model.parameters()) > 0


def _pipelines(node, found=None):
    """Every ``pipeline`` list anywhere in a config (dataloaders, wrappers, hooks)."""
    found = [] if found is None else found
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'pipeline' and isinstance(value, (list, tuple)):
                found.append(value)
            else:
                _pipelines(value, found)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _pipelines(value, found)
    return found


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_pipelines_build(path):
    """Every transform named in a config exists and accepts its arguments.

    Building the model does not touch the data pipelines, so a misspelt transform
    (e.g. a name that mmpretrain does not register) would only fail once the
    dataset is built on the user's machine.
    """
    cfg = Config.fromfile(path)
    if _is_mmdet(cfg):
        from mmdet.registry import TRANSFORMS

        init_default_scope('mmdet')
    else:
        from mmpretrain.registry import TRANSFORMS

        init_default_scope('mmpretrain')
    pipelines = _pipelines(cfg.to_dict())
    assert pipelines, f'{path}: no data pipeline found'
    for pipeline in pipelines:
        for transform in pipeline:
            built = TRANSFORMS.build(transform) if isinstance(transform, dict) else transform
            assert callable(built)
