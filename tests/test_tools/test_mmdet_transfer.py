"""COCO transfer through mmdet: the benchmark configs under configs/benchmarks/mmdetection/
load a csml_mm checkpoint into Mask R-CNN (FPN, C4, ViT + simple pyramid) with every
backbone key, refuse unsafe pickles, and train + evaluate through the launch scripts on a
tiny COCO-format data set generated here (CPU, 64 px images, 2 iterations)."""

import importlib.util
import json
import math
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope

import csml_mm  # noqa: F401
from csml_mm.utils import UnsafeCheckpointError, safe_torch_load

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
BENCH = osp.join(ROOT, 'configs', 'benchmarks', 'mmdetection')
BENCH_CFGS = {
    'fpn': osp.join(BENCH, 'mask-rcnn_r50_fpn_ms-1x_coco.py'),
    'c4': osp.join(BENCH, 'mask-rcnn_r50-c4_ms-1x_coco.py'),
    'vit': osp.join(BENCH, 'mask-rcnn_vit-base-p16_simple-fpn_8xb2-amp-lsj-100e_coco.py'),
}
TINY_VIT = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)

# ---------------------------------------------------------------------------------------
# Tiny versions of the benchmark configs: they inherit the real files (init_cfg, heads,
# norms, optimiser constructor) and only shrink widths, image sizes and the schedule.
# The learning rate is 0, so the backbone after training must still equal the checkpoint.
# ---------------------------------------------------------------------------------------
_COMMON = """
small_rpn = dict(nms_pre=100, max_per_img=20, nms=dict(type='nms', iou_threshold=0.7),
                 min_bbox_size=0)
small_train_cfg = dict(rpn_proposal=small_rpn, rcnn=dict(sampler=dict(num=8)))
small_test_cfg = dict(rpn=small_rpn, rcnn=dict(score_thr=0.0, max_per_img=5))
small_roi_head = dict(
    bbox_roi_extractor=dict(out_channels=32),
    bbox_head=dict(in_channels=32, conv_out_channels=32, fc_out_channels=64),
    mask_roi_extractor=dict(out_channels=32),
    mask_head=dict(in_channels=32, conv_out_channels=32))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    {train_resize}
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset={train_dataset})
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                      dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
log_processor = dict(window_size=1)
randomness = dict(seed=0)
"""
_MS_RESIZE = "dict(type='RandomChoiceResize', scales=[(64, 56), (64, 64)], keep_ratio=True),"
_LSJ = (
    "dict(type='RandomResize', scale=(64, 64), ratio_range=(0.8, 1.2), keep_ratio=True),\n"
    "    dict(type='RandomCrop', crop_type='absolute_range', crop_size=(64, 64),\n"
    '         recompute_bbox=True, allow_negative_crop=True),\n'
    "    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),"
)
_MS_DATA = 'dict(pipeline=train_pipeline)'
TINY = {
    'fpn': _COMMON.format(train_resize=_MS_RESIZE, train_dataset=_MS_DATA)
    + """
model = dict(
    backbone=dict(depth=18),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=32),
    rpn_head=dict(in_channels=32, feat_channels=32),
    roi_head=small_roi_head,
    train_cfg=small_train_cfg,
    test_cfg=small_test_cfg)
optim_wrapper = dict(optimizer=dict(lr=0.0))
""",
    # mmdet's C4 shared head has ResNet's widths hard-coded, so it is a full ResNet-18 res5;
    # 8x8 RoIs keep it cheap.
    'c4': _COMMON.format(train_resize=_MS_RESIZE, train_dataset=_MS_DATA)
    + """
model = dict(
    backbone=dict(depth=18),
    rpn_head=dict(in_channels=256, feat_channels=32),
    roi_head=dict(
        shared_head=dict(depth=18),
        bbox_roi_extractor=dict(out_channels=256, roi_layer=dict(output_size=8)),
        bbox_head=dict(in_channels=512, roi_feat_size=4),
        mask_head=dict(in_channels=512, conv_out_channels=32)),
    train_cfg=dict(rpn_proposal=small_rpn, rcnn=dict(sampler=dict(num=8), mask_size=8)),
    test_cfg=small_test_cfg)
optim_wrapper = dict(optimizer=dict(lr=0.0))
""",
    'vit': _COMMON.format(
        train_resize=_LSJ, train_dataset='dict(times=1, dataset=dict(pipeline=train_pipeline))'
    )
    + f"""
model = dict(
    data_preprocessor=dict(
        batch_augments=[dict(type='BatchFixedSizePad', size=(64, 64), pad_mask=True)]),
    # Pretrained at 32 px (2x2 patches); 64 px inputs resize the position embedding.
    backbone=dict(arch=dict(_delete_=True, **{TINY_VIT!r}), img_size=32, patch_size=16,
                  drop_path_rate=0.0),
    neck=dict(in_channels=32, out_channels=32),
    rpn_head=dict(in_channels=32, feat_channels=32),
    roi_head=small_roi_head,
    train_cfg=small_train_cfg,
    test_cfg=small_test_cfg)
# The benchmark's constructor and AdamW, without AMP (CPU).
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper', constructor='ViTLayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=0.0, weight_decay=0.1),
    paramwise_cfg=dict(layer_decay_rate=0.7, norm_decay_mult=0.))
""",
}


def _tiny_cfg_file(tmp_dir, kind: str) -> str:
    path = osp.join(tmp_dir, f'tiny_{kind}.py')
    with open(path, 'w') as f:
        f.write(f'_base_ = [{BENCH_CFGS[kind]!r}]\n' + TINY[kind])
    return path


# ---------------------------------------------------------------------------------------
# A COCO-format data set: coloured random polygons on noisy 64x64 images.
# ---------------------------------------------------------------------------------------
def _polygon_area(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def _write_split(root: str, split: str, num_images: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    img_dir = osp.join(root, f'{split}2017')
    os.makedirs(img_dir, exist_ok=True)
    images, anns = [], []
    for i in range(num_images):
        h = w = 64
        img = rng.integers(0, 50, size=(h, w, 3), dtype=np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            cat = int(rng.choice([1, 3]))  # 'person' and 'car' (see categories below)
            cx, cy = rng.uniform(18, 46, size=2)
            k = int(rng.integers(3, 7))
            angles = np.sort(rng.uniform(0, 2 * np.pi, size=k))
            radii = rng.uniform(8, 16, size=k)
            xy = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
            xy = np.clip(np.round(xy), 0, w - 1)
            if _polygon_area(xy) < 20:
                continue
            colour = tuple(int(c) for c in rng.integers(80, 256, size=3))
            cv2.fillPoly(img, [xy.astype(np.int32)], colour)
            x0, y0 = xy.min(0)
            x1, y1 = xy.max(0)
            anns.append(
                dict(
                    id=len(anns) + 1,
                    image_id=i + 1,
                    category_id=cat,
                    segmentation=[xy.reshape(-1).tolist()],
                    bbox=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                    area=_polygon_area(xy),
                    iscrowd=0,
                )
            )
        name = f'{i:012d}.jpg'
        cv2.imwrite(osp.join(img_dir, name), img)
        images.append(dict(id=i + 1, file_name=name, height=h, width=w))
    # All 80 COCO class names, as the benchmark heads predict 80 classes (ids 1..80 here).
    from mmdet.datasets import CocoDataset

    categories = [
        dict(id=i + 1, name=name) for i, name in enumerate(CocoDataset.METAINFO['classes'])
    ]
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    with open(osp.join(root, 'annotations', f'instances_{split}2017.json'), 'w') as f:
        json.dump(dict(images=images, annotations=anns, categories=categories), f)


# ---------------------------------------------------------------------------------------
# Checkpoints: a csml_mm training checkpoint (CsMl, ResNet-18) and an APS-style ViT one,
# with every backbone tensor randomised so that a key that is not loaded is noticed.
# ---------------------------------------------------------------------------------------
def _randomise_(state: dict, gen: torch.Generator) -> None:
    for key, val in state.items():
        if val.is_floating_point():
            val.copy_(torch.randn(val.shape, generator=gen) * 0.05)
            if key.endswith('running_var'):
                val.abs_().add_(0.5)
        else:
            val.fill_(7)


def _extract_backbone(src: str, out: str) -> dict:
    """Convert with the project's tools/model_converters/extract_backbone.py."""
    path = osp.join(ROOT, 'tools', 'model_converters', 'extract_backbone.py')
    spec = importlib.util.spec_from_file_location('extract_backbone', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main([src, out])
    return safe_torch_load(out)


@pytest.fixture(scope='module', autouse=True)
def _restore_default_scope():
    """These tests switch mmengine's default scope to mmdet; give the next module its scope."""
    from mmengine.registry import DefaultScope

    before = DefaultScope.get_current_instance()
    yield
    if before is not None:
        init_default_scope(before.scope_name)


@pytest.fixture(scope='module')
def assets(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp('mmdet_transfer'))
    coco = osp.join(tmp, 'coco')
    _write_split(coco, 'train', 4, seed=1)
    _write_split(coco, 'val', 2, seed=2)
    gen = torch.Generator().manual_seed(0)

    from mmpretrain.registry import MODELS as PRETRAIN_MODELS

    init_default_scope('mmpretrain')
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'csml', 'csml_resnet50_8xb32-coslr-200e_in1k.py')
    )
    cfg.model.backbone.depth = 18
    cfg.model.neck.update(in_channels=[512], hid_channels=32, out_channels=16)
    cfg.model.update(queue_len=32, feat_dim=16)
    algo = PRETRAIN_MODELS.build(cfg.model)
    with torch.no_grad():
        _randomise_(algo.backbone.state_dict(), gen)
    resnet_state = {k: v.clone() for k, v in algo.backbone.state_dict().items()}
    full = osp.join(tmp, 'csml_r18_epoch_1.pth')
    torch.save(dict(state_dict=algo.state_dict(), meta=dict(epoch=1)), full)
    resnet_ckpt = osp.join(tmp, 'csml_r18_backbone.pth')
    converted = _extract_backbone(full, resnet_ckpt)
    assert set(converted['state_dict']) == set(resnet_state)

    # APS encoder: csml_mm's TokenSubsetViT (mmpretrain ViT parameter names).
    vit = PRETRAIN_MODELS.build(
        dict(type='TokenSubsetViT', arch=TINY_VIT, img_size=32, patch_size=16)
    )
    rand = {k: v.clone() for k, v in vit.state_dict().items()}
    _randomise_(rand, gen)
    vit.load_state_dict(rand)
    vit_state = {k: v.clone() for k, v in vit.state_dict().items()}
    full_vit = osp.join(tmp, 'aps_vit_epoch_1.pth')
    torch.save(
        dict(state_dict={'backbone.' + k: v for k, v in vit_state.items()}, meta=dict(epoch=1)),
        full_vit,
    )
    vit_ckpt = osp.join(tmp, 'aps_vit_backbone.pth')
    _extract_backbone(full_vit, vit_ckpt)

    cfgs = {kind: _tiny_cfg_file(tmp, kind) for kind in BENCH_CFGS}
    return dict(
        tmp=tmp,
        coco=coco,
        cfgs=cfgs,
        ckpt=dict(fpn=resnet_ckpt, c4=resnet_ckpt, vit=vit_ckpt),
        expected=dict(fpn=resnet_state, c4=resnet_state, vit=vit_state),
    )


def _build_detector(cfg_path: str, checkpoint: str, kind: str):
    from mmdet.registry import MODELS

    init_default_scope('mmdet')
    cfg = Config.fromfile(cfg_path)
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    if kind == 'c4':
        cfg.model.roi_head.shared_head.init_cfg.checkpoint = checkpoint
    return MODELS.build(cfg.model)


def _loaded_backbone_state(model, kind: str) -> dict:
    """The detector's tensors that must come from the checkpoint, by checkpoint key."""
    state = dict(model.backbone.state_dict())
    if kind == 'c4':
        shared = model.roi_head.shared_head.state_dict()
        assert not set(shared) & set(state)
        state.update({k: v for k, v in shared.items() if k.startswith('layer4.')})
    return state


@pytest.mark.parametrize('kind', ['fpn', 'c4', 'vit'])
def test_every_backbone_key_is_loaded(assets, kind):
    model = _build_detector(assets['cfgs'][kind], assets['ckpt'][kind], kind)
    expected = assets['expected'][kind]
    before = _loaded_backbone_state(model, kind)
    assert set(before) == set(expected), (
        f'missing in detector: {sorted(set(expected) - set(before))[:5]}, '
        f'not in checkpoint: {sorted(set(before) - set(expected))[:5]}'
    )
    model.init_weights()
    after = _loaded_backbone_state(model, kind)
    for key, val in expected.items():
        assert torch.equal(after[key], val), f'{kind}: {key} was not loaded from the checkpoint'
    if kind == 'c4':
        # The extra norm after res5 is new (BN defaults), not taken from the checkpoint.
        norm = model.roi_head.shared_head.norm
        assert torch.equal(norm.weight, torch.ones_like(norm.weight))
        assert torch.equal(norm.running_var, torch.ones_like(norm.running_var))


def _unsafe_checkpoint(path: str) -> None:
    class Payload:
        def __reduce__(self):  # harmless even if executed: refused before that anyway
            return (os.getcwd, ())

    torch.save({'state_dict': {'conv1.weight': torch.zeros(1)}, 'x': Payload()}, path)


def test_unsafe_checkpoint_is_refused_by_mmdet_loading(assets):
    bad = osp.join(assets['tmp'], 'unsafe.pth')
    _unsafe_checkpoint(bad)
    model = _build_detector(assets['cfgs']['fpn'], bad, 'fpn')
    with pytest.raises(UnsafeCheckpointError, match='Refused to load checkpoint'):
        model.init_weights()  # the configs' init_cfg
    from mmengine.runner import load_checkpoint

    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(model, bad)  # load_from / --resume in mmdet training
    model.backbone.init_cfg = dict(type='Pretrained', checkpoint=bad)
    with pytest.raises(UnsafeCheckpointError):
        model.backbone.init_weights()  # mmengine's own 'Pretrained' initializer


def test_vit_backbone_is_mmpretrain_vit_with_feature_maps():
    from mmdet.registry import MODELS
    from mmpretrain.models.backbones import VisionTransformer

    init_default_scope('mmdet')
    torch.manual_seed(0)
    det = MODELS.build(dict(type='DetVisionTransformer', arch=TINY_VIT, img_size=32, patch_size=16))
    ref = VisionTransformer(arch=TINY_VIT, img_size=32, patch_size=16, out_type='featmap')
    assert list(det.state_dict()) == list(ref.state_dict())
    ref.load_state_dict(det.state_dict())
    det.eval(), ref.eval()
    x = torch.randn(2, 3, 64, 48)  # not the pretraining size: 4x3 patches instead of 2x2
    out = det(x)
    assert len(out) == 1 and out[0].shape == (2, 32, 4, 3)
    torch.testing.assert_close(out[0], ref(x)[0])
    with pytest.raises(ValueError, match='featmap'):
        MODELS.build(dict(type='DetVisionTransformer', arch=TINY_VIT, out_type='cls_token'))


def test_simple_feature_pyramid_matches_hand_computation():
    from mmdet.registry import MODELS

    init_default_scope('mmdet')
    torch.manual_seed(0)
    neck = MODELS.build(
        dict(type='SimpleFeaturePyramid', in_channels=16, out_channels=8, num_outs=5, norm_cfg=None)
    )
    neck.init_weights()
    x = torch.randn(2, 16, 6, 5)
    outs = neck((x,))
    assert [tuple(o.shape[2:]) for o in outs] == [(24, 20), (12, 10), (6, 5), (3, 2), (2, 1)]
    assert all(o.shape[:2] == (2, 8) for o in outs)

    def convs(stage, y):  # 1x1 then 3x3, no norm and no activation
        c1, c3 = stage[-2].conv, stage[-1].conv
        y = F.conv2d(y, c1.weight, c1.bias)
        return F.conv2d(y, c3.weight, c3.bias, padding=1)

    s4, s2, s1, s05 = neck.stages  # s4: deconv, norm (Identity), GELU, deconv, convs
    up = F.conv_transpose2d(x, s4[0].weight, s4[0].bias, stride=2)
    up = F.conv_transpose2d(F.gelu(up), s4[3].weight, s4[3].bias, stride=2)
    torch.testing.assert_close(outs[0], convs(s4, up))
    torch.testing.assert_close(
        outs[1], convs(s2, F.conv_transpose2d(x, s2[0].weight, s2[0].bias, stride=2))
    )
    torch.testing.assert_close(outs[2], convs(s1, x))
    torch.testing.assert_close(outs[3], convs(s05, F.max_pool2d(x, 2)))
    torch.testing.assert_close(outs[4], outs[3][:, :, ::2, ::2])
    with pytest.raises(ValueError, match='powers of two'):
        MODELS.build(
            dict(
                type='SimpleFeaturePyramid',
                in_channels=16,
                out_channels=8,
                scale_factors=(3.0, 1.0),
            )
        )


def test_vit_layer_decay_learning_rates(assets):
    from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS

    model = _build_detector(assets['cfgs']['vit'], assets['ckpt']['vit'], 'vit')
    rate, depth, wd = 0.5, TINY_VIT['num_layers'], 0.1
    ctor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(
            type='ViTLayerDecayOptimWrapperConstructor',
            optim_wrapper_cfg=dict(
                type='OptimWrapper', optimizer=dict(type='AdamW', lr=1.0, weight_decay=wd)
            ),
            paramwise_cfg=dict(layer_decay_rate=rate, norm_decay_mult=0.0),
        )
    )
    groups = ctor(model).optimizer.param_groups
    names = {g['param_name']: g for g in groups}
    assert set(names) == {n for n, p in model.named_parameters() if p.requires_grad}
    norm_params = {
        f'{m}.{p}'
        for m, mod in model.named_modules()
        if isinstance(mod, torch.nn.LayerNorm)
        for p, _ in mod.named_parameters()
    }
    for name, group in names.items():
        if name.startswith(('backbone.patch_embed.', 'backbone.cls_token', 'backbone.pos_embed')):
            expected = rate ** (depth + 1)
        elif name.startswith('backbone.layers.'):
            expected = rate ** (depth - int(name.split('.')[2]))
        else:  # final norm, pyramid, RPN and RoI heads
            expected = 1.0
        assert math.isclose(group['lr'], expected), (name, group['lr'], expected)
        assert group['weight_decay'] == (0.0 if name in norm_params else wd), name
    assert any(n.startswith('neck.') for n in norm_params)  # LN2d in the pyramid counts


def _scalars(work_dir: str) -> list:
    found = [osp.join(d, f) for d, _, fs in os.walk(work_dir) for f in fs if f == 'scalars.json']
    assert len(found) == 1, found
    with open(found[0]) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.parametrize('kind', ['fpn', 'c4', 'vit'])
def test_train_script_trains_and_evaluates(assets, kind, repo_root, subprocess_env):
    work_dir = osp.join(assets['tmp'], f'work_{kind}')
    env = dict(subprocess_env, COCO_ROOT=assets['coco'], PYTHON=sys.executable)
    proc = subprocess.run(
        [
            'bash',
            f'tools/benchmarks/mmdetection/train_{kind}.sh',
            assets['cfgs'][kind],
            assets['ckpt'][kind],
            '1',
            '--work-dir',
            work_dir,
        ],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]

    records = _scalars(work_dir)
    losses = [r['loss'] for r in records if 'loss' in r]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses), records  # 4 imgs / 2
    for key in ('loss_rpn_cls', 'loss_cls', 'loss_bbox', 'loss_mask'):
        assert any(key in r for r in records), (key, records)
    metrics = [r for r in records if 'coco/segm_mAP' in r]
    assert metrics and 'coco/bbox_mAP' in metrics[-1], records

    # lr 0: the trained parameters are still the checkpoint's, so the script's
    # --cfg-options reached the initializer (BN running statistics do move).
    ckpt = safe_torch_load(osp.join(work_dir, 'epoch_1.pth'))
    assert ckpt['meta']['iter'] == 2
    state = ckpt['state_dict']
    model = _build_detector(assets['cfgs'][kind], assets['ckpt'][kind], kind)
    params = {n for n, _ in model.named_parameters()}
    prefixes = {'backbone.': ''}
    if kind == 'c4':
        prefixes['roi_head.shared_head.layer4.'] = 'layer4.'
    checked = 0
    for prefix, ckpt_prefix in prefixes.items():
        for name in params:
            if name.startswith(prefix):
                key = ckpt_prefix + name[len(prefix) :]
                assert torch.equal(state[name], assets['expected'][kind][key]), name
                checked += 1
    assert checked > 0


def test_fpn_config_learns_at_a_nonzero_learning_rate(assets, repo_root, subprocess_env):
    """The COCO R50-FPN benchmark config (shrunk as above, its own optimiser and heads) learns:
    at lr 0.02 without warm-up the loss falls over six epochs of the four tiny images and the
    backbone moves away from the checkpoint."""
    epochs = 6
    cfg = osp.join(assets['tmp'], 'tiny_fpn_lr.py')
    with open(cfg, 'w') as f:
        f.write(
            f'_base_ = [{assets["cfgs"]["fpn"]!r}]\n'
            'optim_wrapper = dict(optimizer=dict(lr=0.02))\n'
            'param_scheduler = [dict(type="ConstantLR", factor=1.0, by_epoch=False, '
            'begin=0, end=1000)]\n'
            f'train_cfg = dict(max_epochs={epochs}, val_interval={epochs})\n'
            f'default_hooks = dict(checkpoint=dict(interval={epochs}))\n'
        )
    work_dir = osp.join(assets['tmp'], 'work_fpn_lr')
    env = dict(subprocess_env, COCO_ROOT=assets['coco'], PYTHON=sys.executable)
    proc = subprocess.run(
        [
            'bash',
            'tools/benchmarks/mmdetection/train_fpn.sh',
            cfg,
            assets['ckpt']['fpn'],
            '1',
            '--work-dir',
            work_dir,
        ],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    losses = [r['loss'] for r in _scalars(work_dir) if 'loss' in r]
    assert len(losses) == 2 * epochs and all(math.isfinite(v) for v in losses), losses
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:2]) / 2, losses
    state = safe_torch_load(osp.join(work_dir, f'epoch_{epochs}.pth'))['state_dict']
    expected = assets['expected']['fpn']
    params = [
        k
        for k in expected
        if not k.endswith(('running_mean', 'running_var', 'num_batches_tracked'))
    ]
    moved = [k for k in params if not torch.equal(state['backbone.' + k], expected[k])]
    assert len(moved) > 0.9 * len(params), (len(moved), len(params))


def test_train_script_rejects_missing_checkpoint(assets, repo_root, subprocess_env):
    proc = subprocess.run(
        [
            'bash',
            'tools/benchmarks/mmdetection/train_fpn.sh',
            assets['cfgs']['fpn'],
            osp.join(assets['tmp'], 'nope.pth'),
            '1',
        ],
        cwd=repo_root,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert 'pretrained checkpoint' in proc.stderr and 'does not exist' in proc.stderr
