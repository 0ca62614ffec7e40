"""PretrainedBackbone initializer and the digits linear probe end to end.

The end-to-end test pretrains MoCo v2 for 2 epochs through tools/train.py, runs the
digits linear probe (configs/benchmarks/classification/digits/...) from that checkpoint
through tools/train.py, and evaluates the probe with tools/test.py.
"""

import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import WEIGHT_INITIALIZERS as ROOT_INITS
from mmengine.registry import init_default_scope

import csml_mm  # noqa: F401
from csml_mm.models.utils.pretrained_init import PretrainedBackboneInit
from csml_mm.utils import safe_torch_load

PRETRAIN_CFG = 'tests/data/configs/mocov2_tiny_digits.py'
LINEAR_CFG = 'tests/data/configs/linear_tiny_digits.py'
DIGITS_LINEAR = (
    'configs/benchmarks/classification/digits/resnet18-w16_linear-1xb64-steplr-20e_digits.py'
)


def _randomise(module: torch.nn.Module, seed: int) -> dict:
    """Fill every float tensor (incl. BN statistics) with random values; return a copy."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in module.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    return {k: v.clone() for k, v in module.state_dict().items()}


def _resnet(**kw):
    from mmpretrain.models import ResNet

    return ResNet(depth=18, base_channels=16, stem_channels=16, **kw)


def _tiny_vit(**kw):
    from mmpretrain.models import VisionTransformer

    arch = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
    return VisionTransformer(arch=arch, img_size=16, patch_size=4, **kw)


def test_registered_in_root_and_both_scopes():
    from mmdet.registry import WEIGHT_INITIALIZERS as DET_INITS
    from mmpretrain.registry import WEIGHT_INITIALIZERS as PRE_INITS

    assert ROOT_INITS.get('PretrainedBackbone') is PretrainedBackboneInit
    for scope, registry in (('mmpretrain', PRE_INITS), ('mmdet', DET_INITS)):
        init_default_scope(scope)
        assert registry.get('PretrainedBackbone') is PretrainedBackboneInit, scope
        built = ROOT_INITS.build(dict(type='PretrainedBackbone', checkpoint='x.pth'))
        assert isinstance(built, PretrainedBackboneInit)
    init_default_scope('mmpretrain')


def test_full_checkpoint_survives_child_init_and_zero_init_residual(tmp_path):
    src = _resnet()
    online = _randomise(src, 0)
    momentum = {k: v + 1.0 for k, v in online.items()}
    state = {'backbone.' + k: v for k, v in online.items()}
    state.update({'momentum_encoder.module.0.' + k: v for k, v in momentum.items()})
    state['neck.fc.weight'] = torch.zeros(3, 3)
    ckpt = tmp_path / 'epoch_2.pth'
    torch.save({'state_dict': state, 'meta': {'epoch': 2}}, ckpt)

    # zero_init_residual=True (mmpretrain's default) zeroes the last BN of every block in
    # ResNet.init_weights unless the initializer is recognised as a pretrained load.
    dst = _resnet(
        zero_init_residual=True, init_cfg=dict(type='PretrainedBackbone', checkpoint=str(ckpt))
    )
    dst.init_weights()
    for k, v in dst.state_dict().items():
        assert torch.equal(v, online[k]), k

    dst_m = _resnet(init_cfg=dict(type='PretrainedBackbone', checkpoint=str(ckpt), momentum=True))
    dst_m.init_weights()
    for k, v in dst_m.state_dict().items():
        assert torch.equal(v, momentum[k]), k


def test_backbone_only_vit_survives_ffn_and_pos_embed_init(tmp_path):
    src = _tiny_vit()
    ref = _randomise(src, 1)
    path = tmp_path / 'vit_backbone.pth'
    torch.save({'state_dict': ref, 'meta': {'num_keys': len(ref)}}, path)
    # TransformerEncoderLayer.init_weights re-draws the FFN (xavier) and
    # VisionTransformer.init_weights re-draws pos_embed unless the load is recognised.
    dst = _tiny_vit(init_cfg=dict(type='PretrainedBackbone', checkpoint=str(path)))
    dst.init_weights()
    for k, v in dst.state_dict().items():
        assert torch.equal(v, ref[k]), k


def test_errors_are_clear(tmp_path):
    with pytest.raises(Exception, match=r'--cfg-options model\.backbone\.init_cfg\.checkpoint'):
        _resnet(init_cfg=dict(type='PretrainedBackbone', checkpoint=None)).init_weights()
    # Nothing matches: a ViT checkpoint for a ResNet.
    vit = tmp_path / 'vit.pth'
    torch.save(
        {'state_dict': {'backbone.' + k: v for k, v in _tiny_vit().state_dict().items()}}, vit
    )
    with pytest.raises(RuntimeError, match='No key of'):
        _resnet(init_cfg=dict(type='PretrainedBackbone', checkpoint=str(vit))).init_weights()
    # Same keys, other widths: a shape error that names the fix.
    wide = tmp_path / 'wide.pth'
    from mmpretrain.models import ResNet

    torch.save(
        {
            'state_dict': {
                'backbone.' + k: v
                for k, v in ResNet(depth=18, base_channels=32, stem_channels=32)
                .state_dict()
                .items()
            }
        },
        wide,
    )
    with pytest.raises(RuntimeError, match='does not fit ResNet'):
        _resnet(init_cfg=dict(type='PretrainedBackbone', checkpoint=str(wide))).init_weights()


def test_benchmark_config_without_checkpoint_asks_for_it(repo_root):
    from mmpretrain.registry import MODELS

    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(repo_root, DIGITS_LINEAR))
    assert cfg.model.backbone.init_cfg == dict(type='PretrainedBackbone', checkpoint=None)
    model = MODELS.build(cfg.model)
    with pytest.raises(Exception, match='needs a pretrained checkpoint'):
        model.init_weights()


def _run(repo_root, env, *args):
    proc = subprocess.run(
        [sys.executable, *args], cwd=repo_root, env=env, capture_output=True, text=True, timeout=600
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def test_digits_linear_probe_train_and_test(repo_root, subprocess_env, tmp_path):
    pre, lin = tmp_path / 'pretrain', tmp_path / 'linear'
    _run(repo_root, subprocess_env, 'tools/train.py', PRETRAIN_CFG, '--work-dir', str(pre))
    pre_ckpt = pre / 'epoch_2.pth'
    out = _run(
        repo_root,
        subprocess_env,
        'tools/train.py',
        LINEAR_CFG,
        '--work-dir',
        str(lin),
        '--cfg-options',
        f'model.backbone.init_cfg.checkpoint={pre_ckpt}',
    )
    m = re.search(
        r'PretrainedBackbone: matched (\d+)/(\d+) backbone keys .*'
        r'\(missing: (.*), unexpected: (.*)\)',
        out,
    )
    assert m, out[-3000:]
    assert m.group(1) == m.group(2) and int(m.group(1)) > 0
    assert (m.group(3), m.group(4)) == ('none', 'none')
    assert re.search(r'Epoch\(val\) \[2\].*accuracy/top1: [0-9.]+', out), out[-3000:]

    # The probe trained only the head: every backbone tensor, BN running statistics
    # included, still equals the pretrained one (frozen stages + norm_eval).
    pre_sd = safe_torch_load(pre_ckpt)['state_dict']
    lin_sd = safe_torch_load(lin / 'epoch_2.pth')['state_dict']
    backbone = [k for k in lin_sd if k.startswith('backbone.')]
    assert len(backbone) == int(m.group(2))
    for k in backbone:
        assert torch.equal(lin_sd[k], pre_sd[k]), f'{k} changed during the linear probe'
    head0 = safe_torch_load(lin / 'epoch_1.pth')['state_dict']['head.fc.weight']
    assert not torch.equal(head0, lin_sd['head.fc.weight'])

    metrics_file = tmp_path / 'metrics.json'
    out = _run(
        repo_root,
        subprocess_env,
        'tools/test.py',
        LINEAR_CFG,
        str(lin / 'epoch_2.pth'),
        '--work-dir',
        str(tmp_path / 'test'),
        '--out',
        str(metrics_file),
    )
    assert re.search(r'accuracy/top1: [0-9.]+', out), out[-3000:]
    import json

    metrics = json.loads(metrics_file.read_text())
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0
    assert metrics['accuracy/top5'] >= metrics['accuracy/top1']
