"""tools/model_converters/*: round trips against torchvision / timm, and detectron2 naming."""

import importlib.util
import os.path as osp
import pickle

import pytest
import torch

import csml_mm  # noqa: F401

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def _tool(name):
    path = osp.join(ROOT, 'tools', 'model_converters', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'_conv_{name}', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _randomise(module, seed):
    """Keep the random default init of matrices/kernels; randomise what starts constant
    (norm weights/biases, BN statistics, layer scales, cls token, pos_embed) so that no
    tensor is trivially the identity in the comparison."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith(('running_var', 'weight')) and t.dim() == 1:
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif t.dim() == 1 or name in ('cls_token', 'pos_embed'):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
    return module


def _training_ckpt(tmp_path, backbone, extra=None):
    state = {'backbone.' + k: v for k, v in backbone.state_dict().items()}
    state.update(extra or {})
    state['queue'] = torch.zeros(4, 8)
    path = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': state, 'meta': {'epoch': 1}}, path)
    return path


def test_extract_backbone_contract(tmp_path):
    from mmengine.model import BaseModule  # noqa: F401
    from mmpretrain.models import ResNet

    src = _randomise(ResNet(depth=18, base_channels=16, stem_channels=16), 0)
    ema = {'encoder_k.module.0.' + k: v + 1 for k, v in src.state_dict().items()}
    ckpt = _training_ckpt(tmp_path, src, ema)
    out = tmp_path / 'bb.pth'
    _tool('extract_backbone').main([str(ckpt), str(out)])
    # Plain torch.load with weights_only=True and no allow-list.
    obj = torch.load(out, weights_only=True)
    assert set(obj) == {'state_dict', 'meta'}
    ref = src.state_dict()
    assert set(obj['state_dict']) == set(ref)
    assert all(torch.equal(obj['state_dict'][k], ref[k]) for k in ref)
    assert obj['meta']['num_keys'] == len(ref) and obj['meta']['source'].endswith('epoch_1.pth')
    # mmengine's own Pretrained init loads it into a backbone module.
    dst = ResNet(
        depth=18,
        base_channels=16,
        stem_channels=16,
        init_cfg=dict(type='Pretrained', checkpoint=str(out)),
    )
    dst.init_weights()
    assert all(torch.equal(dst.state_dict()[k], ref[k]) for k in ref)
    # --momentum takes the EMA copy.
    out_m = tmp_path / 'bb_m.pth'
    _tool('extract_backbone').main([str(ckpt), str(out_m), '--momentum'])
    sd_m = torch.load(out_m, weights_only=True)['state_dict']
    assert all(torch.equal(sd_m[k], ref[k] + 1) for k in ref)


def test_extract_backbone_without_backbone_fails(tmp_path):
    bad = tmp_path / 'neck_only.pth'
    torch.save({'state_dict': {'neck.fc.weight': torch.zeros(2, 2)}}, bad)
    with pytest.raises(KeyError, match='holds no backbone weights'):
        _tool('extract_backbone').main([str(bad), str(tmp_path / 'o.pth')])


@pytest.mark.parametrize('depth,tv_name', [(18, 'resnet18'), (50, 'resnet50')])
def test_to_torchvision_same_features(tmp_path, depth, tv_name):
    import torchvision
    from mmpretrain.models import ResNet

    src = _randomise(ResNet(depth=depth), depth)
    src.eval()  # mmpretrain's ResNet.train() returns None: do not chain
    ckpt = _training_ckpt(tmp_path, src)
    out = tmp_path / 'tv.pth'
    _tool('to_torchvision').main([str(ckpt), str(out)])
    tv = getattr(torchvision.models, tv_name)()
    res = tv.load_state_dict(torch.load(out, weights_only=True), strict=False)
    assert sorted(res.missing_keys) == ['fc.bias', 'fc.weight'] and not res.unexpected_keys
    tv.fc = torch.nn.Identity()
    tv.eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = src(x)[-1].mean(dim=(2, 3))
        theirs = tv(x)
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_converters_reject_wrong_architecture(tmp_path):
    from mmpretrain.models import VisionTransformer

    vit = VisionTransformer(
        arch=dict(embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64),
        img_size=16,
        patch_size=4,
    )
    ckpt = _training_ckpt(tmp_path, vit)
    for name in ('to_torchvision', 'to_detectron2'):
        with pytest.raises(KeyError, match='holds no ResNet backbone weights'):
            _tool(name).main([str(ckpt), str(tmp_path / 'x.out')])
    from mmpretrain.models import ResNet

    ckpt_r = _training_ckpt(tmp_path, ResNet(depth=18, base_channels=16, stem_channels=16))
    with pytest.raises(KeyError, match='holds no mmpretrain VisionTransformer weights'):
        _tool('to_timm').main([str(ckpt_r), str(tmp_path / 'x.out')])


VIT_CASES = {
    'cls_token': dict(out_type='cls_token', final_norm=True),
    'avg_prenorm_layerscale': dict(
        out_type='avg_featmap', final_norm=False, pre_norm=True, layer_scale_init_value=0.1
    ),
}


@pytest.mark.parametrize('case', sorted(VIT_CASES))
def test_to_timm_same_features(tmp_path, case):
    from mmpretrain.models import VisionTransformer
    from timm.models.vision_transformer import VisionTransformer as TimmViT

    arch = dict(embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128)
    src = _randomise(VisionTransformer(arch=arch, img_size=32, patch_size=4, **VIT_CASES[case]), 3)
    src.eval()
    ckpt = _training_ckpt(tmp_path, src)
    out = tmp_path / 'timm.pth'
    conv = _tool('to_timm')
    conv.main([str(ckpt), str(out), '--num-heads', '2'])
    sd = torch.load(out, weights_only=True)
    kwargs = conv.timm_kwargs(src.state_dict(), num_heads=2)
    # The settings the tool derives are the ones the model was built with.
    assert (
        kwargs['embed_dim'],
        kwargs['depth'],
        kwargs['patch_size'],
        kwargs['img_size'],
        kwargs['mlp_ratio'],
    ) == (64, 2, 4, 32, 2.0)
    kwargs.pop('init_values')
    timm_vit = TimmViT(init_values=0.1 if 'layerscale' in case else None, **kwargs).eval()
    res = timm_vit.load_state_dict(sd, strict=True)
    assert not res.missing_keys and not res.unexpected_keys
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = src(x)[-1]
        theirs = timm_vit(x)  # num_classes=0: the pooled, normalised features
    assert ours.shape == theirs.shape == (2, 64)
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def _detectron2_r50_names():
    """detectron2's ResNet-50 parameter names and shapes, written out from its convention
    (stem.conv1 + norm; res2..res5 with 3/4/6/3 bottleneck blocks of conv1..3, each with
    a norm, and a projection shortcut in block 0; pytorch style, stride in the 3x3)."""
    bn = ('weight', 'bias', 'running_mean', 'running_var')
    names = {'stem.conv1.weight': (64, 3, 7, 7)}
    names.update({f'stem.conv1.norm.{p}': (64,) for p in bn})
    in_ch = 64
    for stage, blocks in zip(range(2, 6), (3, 4, 6, 3)):
        width = 64 * 2 ** (stage - 2)
        out_ch = width * 4
        for b in range(blocks):
            pre = f'res{stage}.{b}.'
            c_in = in_ch if b == 0 else out_ch
            shapes = {
                'conv1': (width, c_in, 1, 1),
                'conv2': (width, width, 3, 3),
                'conv3': (out_ch, width, 1, 1),
            }
            if b == 0:
                shapes['shortcut'] = (out_ch, c_in, 1, 1)
            for conv, shape in shapes.items():
                names[pre + conv + '.weight'] = shape
                names.update({f'{pre}{conv}.norm.{p}': (shape[0],) for p in bn})
        in_ch = out_ch
    return names


def _detectron2_to_torchvision(name):
    """Inverse of the MoCo detectron2 renaming, written from detectron2's module layout
    (not from the converter): ``stem.conv1`` is the stem conv and ``stem.conv1.norm`` its
    BN; ``res{k}.{i}`` (k = 2..5) is torchvision's ``layer{k-1}.{i}``; inside a block a
    ``convK`` owns its BN as ``convK.norm`` (torchvision ``bnK``), and the projection is
    ``shortcut`` with ``shortcut.norm`` (torchvision ``downsample.0`` / ``downsample.1``)."""
    bn_params = ('weight', 'bias', 'running_mean', 'running_var')
    parts = name.split('.')
    if parts[0] == 'stem':
        if parts[1:] == ['conv1', 'weight']:
            return 'conv1.weight'
        if parts[1:3] == ['conv1', 'norm'] and len(parts) == 4 and parts[3] in bn_params:
            return 'bn1.' + parts[3]
        raise AssertionError(f'not a detectron2 stem name: {name}')
    stage = parts[0]
    assert stage in ('res2', 'res3', 'res4', 'res5') and parts[1].isdigit(), name
    prefix = f'layer{int(stage[3:]) - 1}.{parts[1]}.'
    module, rest = parts[2], parts[3:]
    if rest == ['weight']:
        conv = {'conv1': 'conv1', 'conv2': 'conv2', 'conv3': 'conv3', 'shortcut': 'downsample.0'}[
            module
        ]
        return f'{prefix}{conv}.weight'
    assert len(rest) == 2 and rest[0] == 'norm' and rest[1] in bn_params, name
    norm = {'conv1': 'bn1', 'conv2': 'bn2', 'conv3': 'bn3', 'shortcut': 'downsample.1'}[module]
    return f'{prefix}{norm}.{rest[1]}'


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except what plain numpy arrays need, so the
    file is proven to hold builtins and numpy arrays only (no torch objects)."""

    ALLOWED = {
        ('numpy.core.multiarray', '_reconstruct'),
        ('numpy._core.multiarray', '_reconstruct'),
        ('numpy', 'ndarray'),
        ('numpy', 'dtype'),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f'unexpected global {module}.{name}')
        return super().find_class(module, name)


def test_to_detectron2_round_trip(tmp_path, capsys):
    import numpy as np
    from mmpretrain.models import ResNet

    src = _randomise(ResNet(depth=50), 5)
    ref = src.state_dict()
    # Premise of the value check: no two source tensors are equal, so a mapping that
    # swaps two same-shaped tensors cannot pass.
    by_shape = {}
    for k, v in ref.items():
        if v.is_floating_point():
            by_shape.setdefault(tuple(v.shape), []).append((k, v))
    for group in by_shape.values():
        for i, (ka, a) in enumerate(group):
            assert not any(torch.equal(a, b) for _, b in group[i + 1 :]), ka
    ckpt = _training_ckpt(tmp_path, src)
    out = tmp_path / 'd2.pkl'
    _tool('to_detectron2').main([str(ckpt), str(out)])
    n_nbt = sum(k.endswith('num_batches_tracked') for k in ref)
    assert n_nbt == 53  # 1 stem + 16 blocks x 3 + 4 shortcuts
    assert f'mapped {len(ref) - n_nbt}/{len(ref)} backbone keys' in capsys.readouterr().out

    # File structure promised in docs/model_conversion.md, read the way detectron2's
    # DetectionCheckpointer reads a .pkl (pickle, latin1) with only numpy allowed.
    with open(out, 'rb') as f:
        obj = _NumpyOnlyUnpickler(f, encoding='latin1').load()
    assert isinstance(obj, dict)
    assert set(obj) == {'model', '__author__', 'matching_heuristics'}
    assert obj['__author__'] == 'csml_mm' and obj['matching_heuristics'] is True
    model = obj['model']
    assert type(model) is dict and all(type(k) is str for k in model)
    assert all(type(v) is np.ndarray and v.dtype == np.float32 for v in model.values())

    # Names and shapes of detectron2's ResNet-50.
    expected = _detectron2_r50_names()
    assert set(model) == set(expected)
    for name, shape in expected.items():
        assert tuple(model[name].shape) == shape, name

    # Round trip: the inverse mapping is a bijection between the converted keys and the
    # source keys minus num_batches_tracked, and every value comes back unchanged.
    back = {d2: _detectron2_to_torchvision(d2) for d2 in model}
    assert len(set(back.values())) == len(back), 'two detectron2 keys map to one source key'
    assert set(back.values()) == {k for k in ref if not k.endswith('num_batches_tracked')}
    for d2, ours in back.items():
        assert torch.equal(torch.from_numpy(model[d2]), ref[ours]), (d2, ours)
    # And the converter's forward names agree key by key with the inverse.
    rename = _tool('to_detectron2').rename
    assert all(back[rename(k)] == k for k in ref if not k.endswith('num_batches_tracked'))
