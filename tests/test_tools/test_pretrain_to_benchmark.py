"""Pretraining configs and the benchmark configs meant for them fit together.

For each pair, a model is built from the *pretraining* config, its backbone is filled
with random values (so a tensor that is not loaded cannot pass by chance), saved as an
mmengine-style checkpoint, and the *benchmark* config's model is built with
``model.backbone.init_cfg.checkpoint`` pointing at it, exactly as the docs tell users.

1. Every backbone tensor of the benchmark model must then equal the pretrained one: same
   key set, same shapes (e.g. qkv bias on/off, patch size, width), same values.
2. Loading every tensor is not enough: settings that own no tensor (LayerNorm/BN eps,
   the stem's stride and pooling, the class token's position) change the network while
   every key loads. So both backbones, in eval mode, also get one small random input and
   must return the same features (the pretraining backbone called as the benchmark's is:
   on the full image, e.g. APS's ``TokenSubsetViT`` without ``patch_ids``). The check runs
   in float64 so that an eps of 1e-5 vs 1e-6 stands far above rounding error.
"""

import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import csml_mm  # noqa: F401

pytestmark = pytest.mark.slow  # every test here trains or spawns processes

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))

PAIRS = [
    (
        'configs/csml/csml_resnet50_8xb32-coslr-200e_in1k.py',
        'configs/benchmarks/classification/imagenet/resnet50_linear-8xb32-steplr-100e_in1k.py',
    ),
    (
        'configs/csml/csml_resnet50_8xb32-coslr-200e_in1k.py',
        'configs/benchmarks/classification/imagenet/imagenet_1percent/'
        'resnet50_head100_4xb64-steplr1e-1-20e_in1k-1pct.py',
    ),
    (
        'configs/wcl/wcl_resnet50_32xb128-lars-coslr-100e_in1k.py',
        'configs/benchmarks/classification/imagenet/resnet50_linear-8xb512-nesterov-coslr-80e_in1k.py',
    ),
    (
        'configs/wcl/wcl_resnet18-cifar_1xb256-lars-coslr-200e_cifar10.py',
        'configs/benchmarks/classification/cifar/resnet18-cifar_linear-1xb256-steplr-100e_cifar10.py',
    ),
    (
        'configs/csml/csml_resnet18-w16_1xb64-coslr-12e_digits.py',
        'configs/benchmarks/classification/digits/resnet18-w16_linear-1xb64-steplr-20e_digits.py',
    ),
    (
        'configs/aps/aps_vit-tiny-p2_1xb512-amp-coslr-1600e_cifar10.py',
        'configs/benchmarks/classification/cifar/vit-tiny-p2_finetune-1xb128-coslr-100e_cifar10.py',
    ),
    (
        'configs/aps/aps_vit-small-p16_16xb256-amp-coslr-300e_in1k.py',
        'configs/benchmarks/classification/imagenet/vit-small-p16_finetune-8xb128-coslr-100e_in1k.py',
    ),
    (
        'configs/aps/aps_vit-small-p16_16xb256-amp-coslr-300e_in1k.py',
        'configs/benchmarks/classification/imagenet/vit-small-p16_linear-8xb128-coslr-90e_in1k.py',
    ),
    (
        'configs/aps/aps_vit-small-p2_1xb512-amp-coslr-1600e_cifar100.py',
        'configs/benchmarks/classification/cifar/vit-small-p2_finetune-1xb128-coslr-100e_cifar100.py',
    ),
    (
        'configs/aps/aps_vit-base-p16_16xb256-amp-coslr-300e_in1k.py',
        'configs/benchmarks/classification/imagenet/vit-base-p16_finetune-8xb128-coslr-100e_in1k.py',
    ),
    (
        'configs/aps/aps_vit-d4w64-p4_1xb64-coslr-12e_digits.py',
        'configs/benchmarks/classification/digits/vit-d4w64-p4_linear-1xb64-steplr-20e_digits.py',
    ),
    (
        'configs/csml/csml_resnet18-w16_1xb128-coslr-2e_fmnist.py',
        'configs/benchmarks/classification/fmnist/resnet18-w16_linear-1xb128-steplr-10e_fmnist.py',
    ),
    (
        'configs/aps/aps_vit-d4w64-p4_1xb128-coslr-2e_fmnist.py',
        'configs/benchmarks/classification/fmnist/vit-d4w64-p4_linear-1xb128-steplr-10e_fmnist.py',
    ),
    # the few-label fine-tuning of the transfer table (docs/results/transfer.md)
    (
        'configs/csml/csml_resnet18-w16_1xb128-bnneck-coslr-4e_fmnist.py',
        'configs/benchmarks/classification/fmnist/resnet18-w16_finetune-1xb64-coslr-500i_fmnist-1pct.py',
    ),
    (
        'configs/wcl/wcl_resnet18-w16_1xb128-coslr-7e_fmnist.py',
        'configs/benchmarks/classification/fmnist/resnet18-w16_finetune-1xb128-coslr-600i_fmnist-10pct.py',
    ),
    (
        'configs/supervised/resnet18-w16_1xb128-coslr-7e_fmnist.py',
        'configs/benchmarks/classification/fmnist/resnet18-w16_finetune-1xb64-coslr-500i_fmnist-1pct.py',
    ),
    (
        'configs/aps/aps_vit-d4w64-p4_1xb128-coslr-2e_fmnist.py',
        'configs/benchmarks/classification/fmnist/vit-d4w64-p4_finetune-1xb64-coslr-500i_fmnist-1pct.py',
    ),
    (
        'configs/aps/aps_vit-d4w64-p4_1xb128-coslr-2e_fmnist.py',
        'configs/benchmarks/classification/fmnist/vit-d4w64-p4_finetune-1xb128-coslr-600i_fmnist-10pct.py',
    ),
]

#: Benchmark configs known to build another network than their pretraining config, with the
#: reason. The test asserts that the mismatch is still there (so fixing the config makes it
#: fail until the entry is removed) and then reports the pair as an expected failure.
# benchmark configs that still build another network than their pretraining (none today)
KNOWN_FEATURE_MISMATCH: dict = {}


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


def _fill_random(backbone: torch.nn.Module) -> None:
    """Random values in every floating tensor, at scales that keep the network's
    activations of order one (so the feature comparison is meaningful): unit-variance
    fan-in scaling for kernels and matrices, positive BN variances and norm scales, small
    biases, means, class token and position embedding. Loaded through ``load_state_dict``
    so the module's own load hooks apply (``TokenSubsetViT`` keeps the class token's
    position row at zero by folding it into ``cls_token``)."""
    state = backbone.state_dict()
    for name, t in state.items():
        if not t.is_floating_point():
            continue
        if name.endswith('running_var') or (name.endswith('weight') and t.dim() == 1):
            state[name] = torch.rand_like(t) + 0.5
        elif t.dim() >= 2 and not name.endswith(('cls_token', 'pos_embed')):
            state[name] = torch.randn_like(t) / math.sqrt(t[0].numel())
        else:
            state[name] = torch.randn_like(t) * 0.1
    backbone.load_state_dict(state)


def _probe_input(backbone: torch.nn.Module) -> torch.Tensor:
    """One small image: 4 x 4 patches for a ViT, 16 px for a ResNet (float64)."""
    patch_embed = getattr(backbone, 'patch_embed', None)
    side = 4 * patch_embed.projection.kernel_size[0] if patch_embed is not None else 16
    generator = torch.Generator().manual_seed(0)
    return torch.randn(1, 3, side, side, generator=generator, dtype=torch.float64)


def _features(backbone: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    backbone.double()
    backbone.eval()  # mmpretrain's ResNet.train() returns None: do not chain
    with torch.no_grad():
        return backbone(x)[-1]


@pytest.mark.parametrize('pretrain,benchmark', PAIRS, ids=[osp.basename(b)[:-3] for _, b in PAIRS])
def test_benchmark_backbone_matches_pretraining(pretrain, benchmark, tmp_path):
    torch.manual_seed(0)
    source = _build(pretrain)
    _fill_random(source.backbone)
    ckpt = tmp_path / 'pretrain.pth'
    torch.save({'state_dict': source.state_dict(), 'meta': {'epoch': 1}}, ckpt)
    expected = {
        k: v
        for k, v in source.backbone.state_dict().items()
        if not k.endswith('num_batches_tracked')
    }

    target = _build(benchmark, checkpoint=str(ckpt))
    target.init_weights()
    got = {
        k: v
        for k, v in target.backbone.state_dict().items()
        if not k.endswith('num_batches_tracked')
    }
    assert sorted(got) == sorted(expected), (
        f'backbone keys differ: only in benchmark {sorted(set(got) - set(expected))[:5]}, '
        f'only in pretraining {sorted(set(expected) - set(got))[:5]}'
    )
    for key, value in expected.items():
        assert got[key].shape == value.shape, key
        assert torch.equal(got[key], value), f'{key} was not loaded from the checkpoint'

    x = _probe_input(source.backbone)
    ours, theirs = _features(source.backbone, x), _features(target.backbone, x)
    assert theirs.shape == ours.shape, (tuple(theirs.shape), tuple(ours.shape))
    assert torch.isfinite(ours).all()
    scale = ours.abs().max().item()
    gap = (theirs - ours).abs().max().item()
    tolerance = 1e-9 * max(scale, 1.0)
    if benchmark in KNOWN_FEATURE_MISMATCH:
        assert gap > tolerance, (
            f'{benchmark} now computes the pretraining features: remove '
            'it from KNOWN_FEATURE_MISMATCH.'
        )
        pytest.xfail(KNOWN_FEATURE_MISMATCH[benchmark])
    assert gap <= tolerance, (
        f'every tensor loaded, but the benchmark backbone computes other features than the '
        f'pretraining backbone (max |diff| {gap:.3g}, feature scale {scale:.3g}): a setting '
        f'without tensors differs (norm_cfg eps, stem, class-token position, ...); make '
        f'{benchmark} build the backbone as {pretrain} does.'
    )
