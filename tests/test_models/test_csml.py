"""The CsMl algorithm: MoCo parity, the loss formula, multi-level queues, bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import csml_mm  # noqa: F401

init_default_scope('mmpretrain')


def csml_cfg(levels=(3,), in_channels=(512,), **kw):
    cfg = dict(
        type='CsMl',
        queue_len=32,
        feat_dim=8,
        momentum=0.01,
        backbone=dict(
            type='ResNet',
            depth=18,
            out_indices=levels,
            norm_cfg=dict(type='BN'),
            zero_init_residual=False,
        ),
        neck=dict(
            type='MultiLevelProjectionNeck',
            in_channels=list(in_channels),
            hid_channels=16,
            out_channels=8,
        ),
        head=dict(type='MultiPositiveContrastiveHead', temperature=0.2, mode='per_positive'),
    )
    cfg.update(kw)
    return cfg


def views(n=4, num=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, size, size, generator=g) for _ in range(num)]


def set_epoch(epoch):
    MessageHub.get_current_instance().update_info('epoch', epoch)


def test_plain_moco_special_case_equals_mmpretrain_moco():
    torch.manual_seed(0)
    ours = MODELS.build(csml_cfg(use_neighbour=False, use_cutmix=False))
    moco = MODELS.build(
        dict(
            type='MoCo',
            queue_len=32,
            feat_dim=8,
            momentum=0.01,
            backbone=dict(
                type='ResNet', depth=18, norm_cfg=dict(type='BN'), zero_init_residual=False
            ),
            neck=dict(type='MoCoV2Neck', in_channels=512, hid_channels=16, out_channels=8),
            head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2),
        )
    )
    moco.backbone.load_state_dict(ours.backbone.state_dict())
    moco.neck.mlp.load_state_dict(ours.neck.mlps[0].state_dict())
    moco.encoder_k = type(moco.encoder_k)(torch.nn.Sequential(moco.backbone, moco.neck), 0.01)
    moco.queue.copy_(ours.queue[0])
    x = views(num=2)
    samples = [DataSample() for _ in range(4)]
    torch.manual_seed(1)
    l_ours = ours.loss(x, samples)['loss']
    torch.manual_seed(1)
    l_moco = moco.loss(x, samples)['loss']
    assert l_ours.item() == pytest.approx(l_moco.item(), rel=1e-5)
    assert torch.allclose(ours.queue[0], moco.queue, atol=1e-6)
    assert int(ours.queue_ptr) == int(moco.queue_ptr) == 4


def _reference_loss(model, x, queue, w_s, w_c, neighbour_query=True):
    """The three-term formula written out with cross entropy, from the model's encoders."""
    t = 0.2

    def info_nce(q, k):  # InfoNCE of q with one positive k against the queue
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue], 1) / t
        return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long))

    q = model._project(x[0])[0]
    qn = model._project(x[2])[0]
    k = model._keys(x[1])[0]
    kn = model._keys(x[3])[0]
    la = w_s * info_nce(q, k) + (w_c * info_nce(q, kn) if w_c > 0 else 0)
    if not neighbour_query:
        return la
    ln = w_s * info_nce(qn, kn) + (w_c * info_nce(qn, k) if w_c > 0 else 0)
    return (la + ln) / 2


@pytest.mark.parametrize('epoch,weights', [(0, (1.0, 0.0)), (5, (0.6, 0.4))])
def test_cross_sample_loss_matches_formula_and_warmup(epoch, weights):
    torch.manual_seed(0)
    model = MODELS.build(
        csml_cfg(use_cutmix=False, cross_weights=(0.6, 0.4), cross_warmup_epochs=3)
    )
    set_epoch(epoch)
    assert model.current_cross_weights() == weights
    x = views()
    queue = model.queue[0].clone()
    with torch.no_grad():
        loss = model.loss(x, [DataSample() for _ in range(4)])['loss']
        ref = _reference_loss(model, x, queue, *weights)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    set_epoch(0)


def test_anchor_only_queries_match_formula_and_skip_the_neighbour_pass(monkeypatch):
    """neighbour_query=False: L = w_s l(q, k) + w_c l(q, k'), and the neighbour image is
    encoded once (as a key), not also as a query."""
    torch.manual_seed(0)
    model = MODELS.build(
        csml_cfg(
            use_cutmix=False, neighbour_query=False, cross_weights=(0.6, 0.4), cross_warmup_epochs=0
        )
    )
    x = views()
    queue = model.queue[0].clone()
    projected = []
    original = model._project_sets
    monkeypatch.setattr(
        model, '_project_sets', lambda images: projected.append(len(images)) or original(images)
    )
    with torch.no_grad():
        loss = model.loss(x, [DataSample() for _ in range(4)])['loss']
        ref = _reference_loss(model, x, queue, 0.6, 0.4, neighbour_query=False)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    assert projected == [1]
    # with CutMix the mixed image is the second query set, and the loss still has a gradient
    model = MODELS.build(csml_cfg(neighbour_query=False, cross_warmup_epochs=0))
    out = model.loss(views(), [DataSample() for _ in range(4)])
    assert 'cutmix_lam' in out and torch.isfinite(out['loss'])
    out['loss'].backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def test_full_csml_step_multi_level_queues_and_gradients():
    torch.manual_seed(0)
    model = MODELS.build(csml_cfg(levels=(2, 3), in_channels=(256, 512), level_weights=(0.5, 1.0)))
    assert model.queue.shape == (2, 8, 32)
    q0 = model.queue.clone()
    set_epoch(20)
    out = model.loss(views(), [DataSample() for _ in range(4)])
    assert set(out) >= {'loss_level0', 'loss_level1', 'acc_inst', 'cutmix_lam'}
    total = out['loss_level0'] + out['loss_level1']
    assert torch.isfinite(total) and total.item() > 0
    total.backward()
    assert model.backbone.layer3[0].conv1.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.encoder_k.parameters())
    # each level enqueued its own keys into its own slot range
    assert int(model.queue_ptr) == 4
    assert not torch.allclose(model.queue[:, :, :4], q0[:, :, :4])
    assert torch.equal(model.queue[:, :, 4:], q0[:, :, 4:])
    assert not torch.allclose(model.queue[0, :, :4], model.queue[1, :, :4])
    feats = model(views(num=1)[0], mode='tensor')
    assert [f.shape[1] for f in feats] == [256, 512]
    set_epoch(0)


def test_bad_input_messages():
    model = MODELS.build(csml_cfg())
    with pytest.raises(ValueError, match='needs 4 views per sample'):
        model.loss(views(num=2), [DataSample() for _ in range(4)])
    bad_queue = MODELS.build(csml_cfg(queue_len=30))
    with pytest.raises(ValueError, match='queue_len=30 is not a multiple of the global batch 4'):
        bad_queue.loss(views(), [DataSample() for _ in range(4)])
    with pytest.raises(ValueError, match='gives 2 levels but the neck projects 1'):
        MODELS.build(csml_cfg(levels=(2, 3), in_channels=(512,)))
    with pytest.raises(ValueError, match='is not a stage it outputs|out_indices'):
        MODELS.build(csml_cfg(levels=(5,), in_channels=(512,)))
    with pytest.raises(ValueError, match='use_cutmix=True needs use_neighbour=True'):
        MODELS.build(csml_cfg(use_neighbour=False, use_cutmix=True))


def test_out_indices_check_for_a_config_and_a_built_backbone():
    backbone = MODELS.build(csml_cfg()['backbone'])
    backbone.out_indices = (4,)  # as a backbone built elsewhere could carry
    with pytest.raises(ValueError, match=r'out_indices=\(4,\): the backbone has 4 stages'):
        MODELS.build(csml_cfg(backbone=backbone))
    with pytest.raises(ValueError, match=r'out_indices=\(-5,\): the backbone has 4 stages'):
        MODELS.build(csml_cfg(levels=-5))


def test_mining_interface():
    from csml_mm.engine.hooks.neighbour_mining_hook import mining_model

    model = MODELS.build(csml_cfg(cross_warmup_epochs=3, queue_len=64))
    assert mining_model(type('Runner', (), dict(model=model))) is model
    assert [model.wants_mining(e) for e in range(5)] == [False, False, False, True, False]
    assert not MODELS.build(csml_cfg(use_neighbour=False, use_cutmix=False)).wants_mining(11)
    assert model.training_set_warning(130) is None  # 64 < 130 // 2
    assert (
        'queue_len=64 is at least half the training set (128 images)'
        in model.training_set_warning(128)
    )
    # the momentum backbone's last stage, pooled and normalised; online weights before a step
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(1e-2)
    x = views(num=1)[0]
    model.eval()
    model.prepare_mining()
    ref = F.normalize(model.backbone(x)[-1].mean(dim=(2, 3)), dim=1)
    torch.testing.assert_close(model.mining_features(x), ref)
    model.encoder_k.steps += 1  # after a training step the key encoder is left as it is
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.mul_(-1)
    model.prepare_mining()
    torch.testing.assert_close(model.mining_features(x), ref)


def _split_bn_csml(fuse_views, levels=(2, 3), in_channels=(32, 64)):
    cfg = csml_cfg(
        levels=levels, in_channels=in_channels, fuse_views=fuse_views, level_weights=(0.5, 1.0)
    )
    cfg['backbone'].update(
        base_channels=8, stem_channels=8, norm_cfg=dict(type='SplitBN', num_splits=2)
    )
    return MODELS.build(cfg)


def _step(model, x):
    torch.manual_seed(3)  # the same key shuffles in both models
    np.random.seed(3)  # the same CutMix box
    out = model.loss(x, [DataSample() for _ in range(x[0].shape[0])])
    total = out['loss_level0'] + out['loss_level1']
    total.backward()
    return out, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize('world_size', [1, 2])
def test_stacked_views_equal_separate_passes(monkeypatch, world_size):
    """fuse_views: one stacked backbone pass per role gives the separate passes' loss and grads."""
    from csml_mm.models.utils import split_bn

    monkeypatch.setattr(split_bn, 'get_world_size', lambda: world_size)  # SplitBN's DDP switch
    set_epoch(20)
    torch.manual_seed(0)
    fused = _split_bn_csml(True)
    separate = _split_bn_csml(False)
    separate.load_state_dict(fused.state_dict())
    calls = []
    fused.backbone.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    x = views(n=8)
    out_f, grads_f = _step(fused, x)
    out_s, grads_s = _step(separate, x)
    # three query sets in one pass of 24 (the key encoder is a separate module)
    assert calls == [24]
    for name in ('loss_level0', 'loss_level1', 'cutmix_lam'):
        assert out_f[name].item() == pytest.approx(out_s[name].item(), rel=1e-5)
    assert grads_f.keys() == grads_s.keys() and len(grads_f) > 0
    for name, g in grads_f.items():
        torch.testing.assert_close(g, grads_s[name], rtol=1e-4, atol=1e-5, msg=name)
    torch.testing.assert_close(fused.queue, separate.queue, rtol=1e-5, atol=1e-6)
    # the stacking is undone: every SplitBN is back to one view group
    assert all(getattr(m, 'view_groups', 1) == 1 for m in fused.modules())
    set_epoch(0)


def test_views_are_not_stacked_when_a_plain_batch_norm_would_mix_them():
    model = MODELS.build(csml_cfg())  # plain BN backbone
    calls = []
    model.backbone.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    set_epoch(20)
    model.loss(views(), [DataSample() for _ in range(4)])
    assert calls == [4, 4, 4]  # anchor, neighbour and CutMix queries each in their own pass
    off = _split_bn_csml(False)
    assert not off._stacks(views(n=8, num=3))
    set_epoch(0)
