"""Detection transfer on the Fashion-MNIST scenes: the scenes configs load the backbone of every
pretraining recipe of the transfer table (every key, and for the ResNets the same features),
and fine-tuning from a checkpoint through tools/train.py lowers the loss and moves the backbone."""

import json
import math
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import csml_mm  # noqa: F401
from csml_mm.datasets import fashion_mnist as fm
from csml_mm.datasets.fmnist_scenes import make_scenes
from csml_mm.utils import safe_torch_load

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
sys.path.insert(0, osp.join(ROOT, 'tools', 'benchmarks'))
import bench_quality  # noqa: E402
import bench_transfer  # noqa: E402

#: every pretraining recipe of the transfer table, by its bench_quality method key
PRETRAINED = sorted({row[2] for row in bench_transfer.ROWS.values() if row[2]})


@pytest.fixture(scope='module', autouse=True)
def _restore_default_scope():
    from mmengine.registry import DefaultScope

    before = DefaultScope.get_current_instance()
    yield
    if before is not None:
        init_default_scope(before.scope_name)


def _fill_random(module: torch.nn.Module, gen: torch.Generator) -> None:
    """Random values of order one in every floating tensor (so an unloaded key is noticed)."""
    state = module.state_dict()
    for name, t in state.items():
        if not t.is_floating_point():
            continue
        if name.endswith('running_var') or (name.endswith('weight') and t.dim() == 1):
            state[name] = torch.rand(t.shape, generator=gen) + 0.5
        elif t.dim() >= 2 and not name.endswith(('cls_token', 'pos_embed')):
            state[name] = torch.randn(t.shape, generator=gen) / math.sqrt(t[0].numel())
        else:
            state[name] = torch.randn(t.shape, generator=gen) * 0.1
    module.load_state_dict(state)


def _pretrained_checkpoint(method: str, path: str):
    """A training checkpoint of ``method``'s own config, backbone randomised; its backbone."""
    from mmpretrain.registry import MODELS

    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, bench_quality.METHODS[method][1]))
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    _fill_random(model.backbone, torch.Generator().manual_seed(len(method)))
    torch.save({'state_dict': model.state_dict(), 'meta': {'epoch': 1}}, path)
    return {
        k: v.clone()
        for k, v in model.backbone.state_dict().items()
        if not k.endswith('num_batches_tracked')
    }, model.backbone


def _detector(family: str, checkpoint):
    from mmdet.registry import MODELS

    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(ROOT, bench_transfer.DET_CFG[family]))
    if checkpoint is None:
        cfg.model.backbone.init_cfg = None
    else:
        cfg.model.backbone.init_cfg.checkpoint = checkpoint
    return MODELS.build(cfg.model)


@pytest.mark.slow
@pytest.mark.parametrize('method', PRETRAINED)
def test_scenes_detector_loads_each_pretrained_backbone(method, tmp_path):
    family = 'vit' if method.startswith('aps') else 'resnet'
    ckpt = str(tmp_path / f'{method}.pth')
    expected, source = _pretrained_checkpoint(method, ckpt)
    det = _detector(family, ckpt)
    det.init_weights()
    got = {
        k: v for k, v in det.backbone.state_dict().items() if not k.endswith('num_batches_tracked')
    }
    assert sorted(got) == sorted(expected), sorted(set(got) ^ set(expected))[:6]
    for key, val in expected.items():
        assert torch.equal(got[key], val), f'{method}: {key} not loaded'
    if family == 'resnet':
        # settings without tensors (stem stride, pooling, eps) match too: same features
        x = torch.randn(
            2, 3, 32, 32, generator=torch.Generator().manual_seed(1), dtype=torch.float64
        )
        source.double().eval()
        det.backbone.double().eval()
        with torch.no_grad():
            torch.testing.assert_close(det.backbone(x)[-1], source(x)[-1], rtol=1e-9, atol=1e-9)
    # and random init really is another network
    fresh = _detector(family, None)
    fresh.init_weights()
    first = next(k for k in expected if k.endswith('weight') and expected[k].dim() == 4)
    assert not torch.equal(fresh.backbone.state_dict()[first], expected[first])


def _tiny_fmnist(root, write_idx):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:28, 0:28]
    for prefix, n in (('train', 64), ('t10k', 32)):
        imgs = np.zeros((n, 28, 28), np.uint8)
        labels = np.arange(n) % 10
        for i, c in enumerate(labels):  # class-dependent ellipses
            inside = ((yy - 14) / (5 + c)) ** 2 + ((xx - 14) / (12 - c // 2)) ** 2 <= 1
            imgs[i][inside] = rng.integers(120, 256, inside.sum())
        write_idx(root / f'{prefix}-images-idx3-ubyte.gz', imgs, 0x803)
        write_idx(root / f'{prefix}-labels-idx1-ubyte.gz', labels, 0x801)
    fm._CACHE.clear()


@pytest.mark.parametrize(
    'family,method,script',
    [
        ('resnet', 'csml-6e', 'train_fpn.sh'),
        ('vit', 'aps', 'train_vit.sh'),
    ],
)
def test_fine_tune_from_a_checkpoint_lowers_the_loss(
    family, method, script, tmp_path, write_idx, repo_root, subprocess_env
):
    data = tmp_path / 'fmnist'
    data.mkdir()
    _tiny_fmnist(data, write_idx)
    scenes = str(tmp_path / 'scenes')
    make_scenes(scenes, num_train=8, num_val=4, fmnist_root=str(data))
    ckpt = str(tmp_path / f'{method}.pth')
    expected, source = _pretrained_checkpoint(method, ckpt)
    iters = 16
    cfg = tmp_path / 'scenes_short.py'
    cfg.write_text(
        f'_base_ = [{osp.join(ROOT, bench_transfer.DET_CFG[family])!r}]\n'
        f'train_dataloader = dict(batch_size=4, dataset=dict(indices=8))\n'
        f'train_cfg = dict(max_iters={iters}, val_interval={iters})\n'
        # no warm-up: a constant learning rate, so a few steps show learning
        f'param_scheduler = [dict(type="ConstantLR", factor=1.0, by_epoch=False, begin=0, '
        f'end={iters})]\n'
        f'default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval={iters}))\n'
        # keep every detection (a score threshold below 0): a 16-step model scores its boxes
        # as background (scores round to 0), and CocoMetric reports nothing for an empty result
        'model = dict(test_cfg=dict(rcnn=dict(score_thr=-1.0)))\n'
        'log_processor = dict(window_size=1)\n'
    )
    work = tmp_path / 'work'
    env = dict(subprocess_env, FMNIST_SCENES_ROOT=scenes)
    proc = subprocess.run(
        [
            'bash',
            f'tools/benchmarks/mmdetection/{script}',
            str(cfg),
            ckpt,
            '1',
            '--work-dir',
            str(work),
        ],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    n = len(source.state_dict())  # every key, counters included
    assert f'matched {n}/{n} backbone keys' in out, out[-3000:]
    rows = [
        json.loads(line)
        for d, _, fs in os.walk(work)
        for f in fs
        if f == 'scalars.json'
        for line in open(osp.join(d, f))
        if line.strip()
    ]
    losses = [r['loss'] for r in rows if 'loss' in r]
    assert len(losses) == iters and all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:2]), losses
    assert any('coco/bbox_mAP' in r and 'coco/segm_mAP' in r for r in rows), rows[-2:]
    state = safe_torch_load(str(work / f'iter_{iters}.pth'))['state_dict']
    moved = [
        k
        for k, v in expected.items()
        if v.is_floating_point()
        and 'running' not in k
        and not torch.equal(state['backbone.' + k], v)
    ]
    assert len(moved) > 0.9 * sum('running' not in k for k in expected), len(moved)
