"""to_torchvision / to_timm print code that builds a model computing the same features.

Each test runs a converter on a checkpoint, executes the Python code the tool printed (so
the printed instructions themselves are what is tested), loads the exported weights
strictly, and compares the features with the original mmpretrain backbone on one random
input in eval mode. A negative control shows that the detail the tool now gets right (the
CIFAR stem, the LayerNorm eps) changes the features, so the comparison can fail.
"""

import importlib.util
import os.path as osp
import sys
from typing import Dict

import pytest
import torch
from mmengine.config import Config

import csml_mm  # noqa: F401

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
TOOLS = osp.join(ROOT, 'tools', 'model_converters')
CSML_CIFAR = 'configs/csml/csml_resnet18-cifar_1xb256-coslr-200e_cifar10.py'
APS_CIFAR = 'configs/aps/aps_vit-tiny-p2_1xb512-amp-coslr-1600e_cifar10.py'


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f'_fid_{name}', osp.join(TOOLS, f'{name}.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _randomise(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random values for what starts constant (norm affine, BN statistics, biases, class
    token, position embedding), loaded through ``load_state_dict`` so that the module's own
    load hooks apply (TokenSubsetViT folds a position for its class token into it)."""
    g = torch.Generator().manual_seed(seed)
    state = module.state_dict()
    for name, t in state.items():
        if not t.is_floating_point():
            continue
        if name.endswith(('running_var', 'weight')) and t.dim() == 1:
            state[name] = torch.rand(t.shape, generator=g) + 0.5
        elif t.dim() == 1 or name in ('cls_token', 'pos_embed'):
            state[name] = torch.randn(t.shape, generator=g) * 0.1
    module.load_state_dict(state)
    module.eval()  # mmpretrain's ResNet.train() returns None: do not chain
    return module


def _save(path, backbone: torch.nn.Module, cfg_text: str = None) -> str:
    ckpt = {
        'state_dict': {'backbone.' + k: v for k, v in backbone.state_dict().items()},
        'meta': {'epoch': 1},
    }
    if cfg_text is not None:
        ckpt['meta']['cfg'] = cfg_text
    torch.save(ckpt, path)
    return str(path)


def _printed_code(out: str, header: str) -> str:
    """The indented code block that follows ``header`` in a tool's output."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.endswith(header)) + 1
    block = []
    for line in lines[start:]:
        if not line.startswith('    '):
            break
        block.append(line[4:])
    assert block, f'no code after {header!r} in:\n{out}'
    return '\n'.join(block)


def _run_printed(code: str) -> torch.nn.Module:
    namespace: Dict[str, object] = {}
    exec(compile(code, '<printed by the converter>', 'exec'), namespace)  # noqa: S102
    model = namespace['model']
    model.eval()
    return model


def _build_backbone(cfg_path: str) -> torch.nn.Module:
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    init_default_scope('mmpretrain')
    return MODELS.build(Config.fromfile(osp.join(ROOT, cfg_path)).model.backbone)


# ----------------------------------------------------------------------------- torchvision


@pytest.mark.parametrize('with_cfg', [True, False], ids=['stored-config', 'weights-only'])
def test_to_torchvision_cifar_stem_prints_matching_model(tmp_path, capsys, with_cfg):
    import torchvision
    from mmpretrain.models import ResNet_CIFAR

    src = _randomise(ResNet_CIFAR(depth=18), 7)
    cfg_text = Config.fromfile(osp.join(ROOT, CSML_CIFAR)).pretty_text if with_cfg else None
    ckpt = _save(tmp_path / 'epoch_1.pth', src, cfg_text)
    out = tmp_path / 'tv.pth'
    _tool('to_torchvision').main([ckpt, str(out)])
    printed = capsys.readouterr().out
    assert 'load with torchvision.models.resnet18()' not in printed
    tv = _run_printed(_printed_code(printed, 'Build the matching model with:'))  # strict load

    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = src(x)[-1].mean(dim=(2, 3))
        theirs = tv(x)
        # Negative control: the same model with torchvision's max-pool kept computes other
        # features, so the comparison can tell the stems apart.
        tv.maxpool = torch.nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        with_pool = tv(x)
    assert ours.shape == theirs.shape == (2, 512)
    torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(with_pool, ours, rtol=1e-3, atol=1e-3)
    # The advice the tool used to print does not even load (7x7 conv1 in torchvision).
    with pytest.raises(RuntimeError, match='size mismatch for conv1.weight'):
        torchvision.models.resnet18().load_state_dict(
            torch.load(out, weights_only=True), strict=False
        )


def test_to_torchvision_cifar_stem_with_head(tmp_path, capsys):
    from mmpretrain.models import ResNet_CIFAR

    src = _randomise(ResNet_CIFAR(depth=18), 8)
    head = torch.nn.Linear(512, 10)
    ckpt = tmp_path / 'epoch_1.pth'
    state = {'backbone.' + k: v for k, v in src.state_dict().items()}
    state.update({'head.fc.weight': head.weight.detach(), 'head.fc.bias': head.bias.detach()})
    torch.save({'state_dict': state, 'meta': {'epoch': 1}}, ckpt)
    _tool('to_torchvision').main([str(ckpt), str(tmp_path / 'tv.pth'), '--with-head'])
    code = _printed_code(capsys.readouterr().out, 'Build the matching model with:')
    assert 'resnet18(num_classes=10)' in code and 'model.fc' not in code
    tv = _run_printed(code)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(tv(x), head(src(x)[-1].mean(dim=(2, 3))), rtol=1e-5, atol=1e-5)


def test_to_torchvision_refuses_unknown_3x3_stem(tmp_path):
    from mmpretrain.models import ResNet_CIFAR

    cfg_text = "model = dict(backbone=dict(type='MyResNet', depth=18))\n"
    ckpt = _save(tmp_path / 'epoch_1.pth', ResNet_CIFAR(depth=18), cfg_text)
    with pytest.raises(ValueError, match=r"conv1 is 3x3 .* 'MyResNet'.*CIFAR stem"):
        _tool('to_torchvision').main([ckpt, str(tmp_path / 'tv.pth')])


# ----------------------------------------------------------------------------------- timm


def _vit_features(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = model(x)
    return out[-1] if isinstance(out, tuple) else out


def test_to_timm_aps_cifar_checkpoint_prints_working_call(tmp_path, capsys):
    """APS ViT-T/2 (arch='deit-tiny', LayerNorm eps 1e-5) from its real config: heads and
    eps come from the stored config, and the printed timm model computes the same
    features (float64, so the 1e-5 vs 1e-6 eps difference stands far above rounding)."""
    src = _randomise(_build_backbone(APS_CIFAR), 9)
    cfg_text = Config.fromfile(osp.join(ROOT, APS_CIFAR)).pretty_text
    ckpt = _save(tmp_path / 'epoch_1.pth', src, cfg_text)
    out = tmp_path / 'timm.pth'
    _tool('to_timm').main([ckpt, str(out)])
    printed = capsys.readouterr().out
    assert 'note:' not in printed, printed  # nothing guessed: all from the stored config
    code = _printed_code(printed, 'build the matching timm model with:')
    assert 'num_heads=3' in code and 'norm_layer=partial(nn.LayerNorm, eps=1e-05)' in code
    timm_vit = _run_printed(code).double()  # load_state_dict is strict in the printed code

    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    ours = _vit_features(src.double(), x)
    theirs = _vit_features(timm_vit, x)
    assert ours.shape == theirs.shape == (1, 192)
    torch.testing.assert_close(theirs, ours, rtol=1e-9, atol=1e-9)
    # Negative control: the same timm model with timm's default eps 1e-6 (what the printed
    # call used to imply) computes other features.
    norms = [m for m in timm_vit.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 2 * 12 + 1 and all(m.eps == 1e-5 for m in norms)
    for m in norms:
        m.eps = 1e-6
    gap = (_vit_features(timm_vit, x) - ours).abs().max().item()
    assert gap > 1e-7, gap


def test_to_timm_weights_only_uses_presets_and_ln_eps(tmp_path, capsys):
    """Without a stored config: num_heads from the one matching arch_zoo preset (deit-tiny
    shapes -> 3), eps from --ln-eps; both are reported as notes or taken as given."""
    from mmpretrain.models import VisionTransformer

    src = _randomise(
        VisionTransformer(
            arch='deit-tiny', img_size=32, patch_size=8, norm_cfg=dict(type='LN', eps=1e-5)
        ),
        10,
    )
    ckpt = _save(tmp_path / 'bb.pth', src)
    out = tmp_path / 'timm.pth'
    tool = _tool('to_timm')
    tool.main([ckpt, str(out)])
    printed = capsys.readouterr().out
    assert "num_heads=3 from the mmpretrain arch preset(s) ['deit-t', 'deit-tiny']" in printed
    assert 'assumed 1e-06' in printed and '--ln-eps 1e-5' in printed
    tool.main([ckpt, str(out), '--ln-eps', '1e-5'])
    printed = capsys.readouterr().out
    assert 'LayerNorm eps is not' not in printed
    timm_vit = _run_printed(_printed_code(printed, 'build the matching timm model with:'))
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    torch.testing.assert_close(
        _vit_features(timm_vit.double(), x), _vit_features(src.double(), x), rtol=1e-9, atol=1e-9
    )


@pytest.mark.parametrize(
    'backbone_cfg,heads,eps',
    [
        (dict(arch='deit-small'), 6, 1e-6),
        (dict(arch='B', norm_cfg=dict(type='LN', eps=1e-5)), 12, 1e-5),
        (
            dict(
                arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256),
                norm_cfg=dict(type='LN'),
            ),
            4,
            1e-5,
        ),  # build_norm_layer's default eps
        (dict(), 12, 1e-6),  # mmpretrain's defaults: arch='base', eps 1e-6
    ],
)
def test_to_timm_settings_from_stored_config(backbone_cfg, heads, eps):
    tool = _tool('to_timm')
    assert tool.heads_from_cfg(backbone_cfg) == heads
    assert tool.eps_from_cfg(backbone_cfg) == eps


def test_to_timm_unknown_heads_is_not_printed_as_runnable():
    tool = _tool('to_timm')
    state = {
        'patch_embed.projection.weight': torch.zeros(48, 3, 4, 4),
        'pos_embed': torch.zeros(1, 17, 48),
        'cls_token': torch.zeros(1, 1, 48),
        'layers.0.ffn.layers.0.0.weight': torch.zeros(100, 48),
        'layers.0.attn.qkv.weight': torch.zeros(144, 48),
    }
    heads, eps, notes = tool.resolve_settings(state, None)
    assert heads is None and eps == 1e-6
    assert any('pass --num-heads H' in n for n in notes)
    code = '\n'.join(tool.timm_build_code(tool.timm_kwargs(state, heads), eps, 'x.pth'))
    assert 'num_heads=<unknown: pass --num-heads>' in code
    with pytest.raises(SyntaxError):
        compile(code, '<printed>', 'exec')


# ------------------------------------------------------------------------- stored config


def test_stored_config_is_parsed_not_executed(tmp_path):
    sys.path.insert(0, TOOLS)
    from _stored_cfg import OPAQUE, parse_model_cfg

    marker = tmp_path / 'executed'
    text = (
        f"import os\nx = os.system('touch {marker}')\n"
        f"model = dict(backbone=dict(type='ResNet_CIFAR', depth=-18, "
        f"init_cfg=open('{marker}', 'w'), out_indices=(3, ), extra=[1, {{'a': None}}]))\n"
    )
    model = parse_model_cfg(text)
    assert not marker.exists()
    bb = model['backbone']
    assert bb['type'] == 'ResNet_CIFAR' and bb['depth'] == -18 and bb['init_cfg'] is OPAQUE
    assert bb['out_indices'] == (3,) and bb['extra'] == [1, {'a': None}]
    assert parse_model_cfg('model = (') is None and parse_model_cfg('y = 1') is None
