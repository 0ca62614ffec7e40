"""Importing csml_mm registers its modules where mmengine/mmpretrain look for them."""

import importlib

from mmengine.registry import MODEL_WRAPPERS as ROOT_WRAPPERS
from mmengine.registry import init_default_scope


def test_import_and_version():
    mod = importlib.import_module('csml_mm')
    assert mod.__version__.count('.') == 2


def test_registered_modules():
    from mmpretrain.registry import DATASETS, HOOKS

    import csml_mm  # noqa: F401

    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS

    for name in ('Digits', 'DigitsComposite', 'FashionMNISTGz'):
        assert DATASETS.get(name) is not None, name
    for name in ('SplitBN', 'BatchAugDataPreprocessor'):
        assert MODELS.get(name) is not None, name
    for name in ('KNNEvalHook', 'NonFiniteLossHook', 'RNGStateHook'):
        assert HOOKS.get(name) is not None, name
    assert (
        HOOKS.get('PipelineSwitchHook')
        and __import__('mmpretrain.registry').registry.MODELS.get('WCL')
        and __import__('mmpretrain.registry').registry.MODELS.get('KNNWeakLabelHead')
        and __import__('mmpretrain.registry').registry.TRANSFORMS.get('PipelineSwitch')
    )  # noqa: E501  (WCL)
    # The DDP wrapper sits in mmengine's root registry: the Runner looks it up there.
    assert ROOT_WRAPPERS.get('CsmlDistributedDataParallel') is not None
    assert (
        ROOT_WRAPPERS.get('MultiStepDistributedDataParallel')
        and all(
            __import__('mmpretrain.registry').registry.MODELS.get(n)
            for n in ('APS', 'TokenSubsetViT')
        )
        and all(
            __import__('mmpretrain.registry').registry.TRANSFORMS.get(n)
            for n in (
                'RandomResizedCropWithBox',
                'MultiViewWithKeys',
                'SparsePatchSampling',
                'SelectivePatchSampling',
            )
        )
    )  # noqa: E501  (APS)


def test_custom_imports_in_a_config_registers(tmp_path):
    from mmengine.config import Config

    cfg_file = tmp_path / 'c.py'
    cfg_file.write_text(
        "custom_imports = dict(imports=['csml_mm'], allow_failed_imports=False)\n"
        "default_scope = 'mmpretrain'\n"
    )
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.default_scope == 'mmpretrain'
