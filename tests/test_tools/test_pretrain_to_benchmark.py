"""Pretraining configs and the benchmark configs meant for them fit together.

For each pair, a model is built from the *pretraining* config, its backbone is filled
with random values (so a tensor that is not loaded cannot pass by chance), saved as an
mmengine-style checkpoint, and the *benchmark* config's model is built with
``model.backbone.init_cfg.checkpoint`` pointing at it, exactly as the docs tell users.
Every backbone tensor of the benchmark model must then equal the pretrained one: same
key set, same shapes (e.g. qkv bias on/off, patch size, width), same values.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import csml_mm  # noqa: F401

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))

PAIRS = [
    ('configs/csml/csml_resnet50_8xb32-coslr-200e_in1k.py',
     'configs/benchmarks/classification/imagenet/resnet50_linear-8xb32-steplr-100e_in1k.py'),
    ('configs/csml/csml_resnet50_8xb32-coslr-200e_in1k.py',
     'configs/benchmarks/classification/imagenet/imagenet_1percent/'
     'resnet50_head100_4xb64-steplr1e-1-20e_in1k-1pct.py'),
    ('configs/wcl/wcl_resnet50_32xb128-lars-coslr-100e_in1k.py',
     'configs/benchmarks/classification/imagenet/resnet50_linear-8xb512-nesterov-coslr-80e_in1k.py'),
    ('configs/wcl/wcl_resnet18-cifar_1xb256-lars-coslr-200e_cifar10.py',
     'configs/benchmarks/classification/cifar/resnet18-cifar_linear-1xb256-steplr-100e_cifar10.py'),
    ('configs/csml/csml_resnet18-w16_1xb64-coslr-12e_digits.py',
     'configs/benchmarks/classification/digits/resnet18-w16_linear-1xb64-steplr-20e_digits.py'),
    ('configs/aps/aps_vit-tiny-p2_1xb512-amp-coslr-1600e_cifar10.py',
     'configs/benchmarks/classification/cifar/vit-tiny-p2_finetune-1xb128-coslr-100e_cifar10.py'),
    ('configs/aps/aps_vit-small-p16_16xb256-amp-coslr-300e_in1k.py',
     'configs/benchmarks/classification/imagenet/vit-small-p16_finetune-8xb128-coslr-100e_in1k.py'),
    ('configs/aps/aps_vit-small-p16_16xb256-amp-coslr-300e_in1k.py',
     'configs/benchmarks/classification/imagenet/vit-small-p16_linear-8xb128-coslr-90e_in1k.py'),
    ('configs/aps/aps_vit-small-p2_1xb512-amp-coslr-1600e_cifar100.py',
     'configs/benchmarks/classification/cifar/vit-small-p2_finetune-1xb128-coslr-100e_cifar100.py'),
    ('configs/aps/aps_vit-base-p16_16xb256-amp-coslr-300e_in1k.py',
     'configs/benchmarks/classification/imagenet/vit-base-p16_finetune-8xb128-coslr-100e_in1k.py'),
    ('configs/aps/aps_vit-d4w64-p4_1xb64-coslr-12e_digits.py',
     'configs/benchmarks/classification/digits/vit-d4w64-p4_linear-1xb64-steplr-20e_digits.py'),
    ('configs/csml/csml_resnet18-w16_1xb128-coslr-2e_fmnist.py',
     'configs/benchmarks/classification/fmnist/resnet18-w16_linear-1xb128-steplr-10e_fmnist.py'),
    ('configs/aps/aps_vit-d4w64-p4_1xb128-coslr-2e_fmnist.py',
     'configs/benchmarks/classification/fmnist/vit-d4w64-p4_linear-1xb128-steplr-10e_fmnist.py'),
]


def _build(path: str, checkpoint: str = None) -> torch.nn.Module:
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, path))
    init_default_scope('mmpretrain')
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    if checkpoint is None:
        model_cfg.backbone.pop('init_cfg', None)
    else:
        model_cfg.backbone.init_cfg.checkpoint = checkpoint
    return MODELS.build(model_cfg)


@pytest.mark.parametrize('pretrain,benchmark', PAIRS,
                         ids=[osp.basename(b)[:-3] for _, b in PAIRS])
def test_benchmark_loads_every_backbone_tensor(pretrain, benchmark, tmp_path):
    torch.manual_seed(0)
    source = _build(pretrain)
    with torch.no_grad():
        for name, tensor in source.backbone.state_dict().items():
            if tensor.is_floating_point():
                tensor.copy_(torch.randn_like(tensor))
    ckpt = tmp_path / 'pretrain.pth'
    torch.save({'state_dict': source.state_dict(), 'meta': {'epoch': 1}}, ckpt)
    expected = {k: v for k, v in source.backbone.state_dict().items()
                if not k.endswith('num_batches_tracked')}

    target = _build(benchmark, checkpoint=str(ckpt))
    target.init_weights()
    got = {k: v for k, v in target.backbone.state_dict().items()
           if not k.endswith('num_batches_tracked')}
    assert sorted(got) == sorted(expected), (
        f'backbone keys differ: only in benchmark {sorted(set(got) - set(expected))[:5]}, '
        f'only in pretraining {sorted(set(expected) - set(got))[:5]}')
    for key, value in expected.items():
        assert got[key].shape == value.shape, key
        assert torch.equal(got[key], value), f'{key} was not loaded from the checkpoint'
