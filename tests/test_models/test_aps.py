"""APS algorithm: the loss against a hand-written InfoNCE, stop-gradient, one optimiser
step per sampling round inside train_step, the EMA option, and clear errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.structures import DataSample

import csml_mm  # noqa: F401
from csml_mm.models.algorithms.aps import APS

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
BACKBONE = dict(type='TokenSubsetViT', arch=ARCH, img_size=16, patch_size=4, qkv_bias=False)


def _mlp(cin):
    return dict(
        type='NonLinearNeck',
        in_channels=cin,
        hid_channels=16,
        out_channels=8,
        num_layers=3,
        with_bias=False,
        with_last_bn=True,
        with_last_bn_affine=False,
        with_avg_pool=False,
        norm_cfg=dict(type='BN1d'),
    )


def _model(ema_momentum=None) -> APS:
    torch.manual_seed(0)
    model = APS(
        backbone=BACKBONE,
        neck=_mlp(32),
        predictor=_mlp(8),
        head=dict(type='MultiPositiveContrastiveHead', temperature=0.1),
        ema_momentum=ema_momentum,
        data_preprocessor=dict(
            type='SelfSupDataPreprocessor', mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0], to_rgb=False
        ),
    )
    model.init_weights()
    return model


def _batch(batch=6, rounds=2, n=4, seed=0):
    rng = np.random.default_rng(seed)
    inputs = [
        torch.from_numpy(rng.normal(size=(batch, 3, 16, 16)).astype(np.float32)) for _ in range(2)
    ]
    samples = []
    for _ in range(batch):
        ds = DataSample()
        ds.set_field(
            [
                rng.permutation(16)[: rounds * n].reshape(rounds, n),
                np.stack([rng.permutation(16)[:n] for _ in range(rounds)]),
            ],
            'patch_ids',
        )
        samples.append(ds)
    return inputs, samples


def _reference_loss(model, inputs, samples, j, t=0.1):
    ids = [torch.from_numpy(np.stack([s.patch_ids[v][j] for s in samples])) for v in (0, 1)]
    z = [model.neck(model.backbone(inputs[v], ids[v]))[0] for v in (0, 1)]
    p = [model.predictor((zv,))[0] for zv in z]
    labels = torch.arange(len(samples))

    def ce(pv, zv):
        logits = F.normalize(pv, dim=1) @ F.normalize(zv.detach(), dim=1).t() / t
        return F.cross_entropy(logits, labels)

    return ce(p[0], z[1]) + ce(p[1], z[0])


def test_loss_is_symmetric_infonce_with_stop_gradient():
    model = _model()
    model.train()
    inputs, samples = _batch()
    loss = model.loss(inputs, samples, round_idx=1)['loss']
    loss.backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    ref = _reference_loss(model, inputs, samples, 1)
    ref.backward()
    torch.testing.assert_close(loss, ref, rtol=1e-5, atol=1e-5)
    assert grads.keys() == {k for k, p in model.named_parameters() if p.grad is not None}
    for k, p in model.named_parameters():
        if p.grad is not None:
            scale = max(float(p.grad.abs().max()), 1.0)  # (some grads are 0 up to noise)
            torch.testing.assert_close(grads[k], p.grad, rtol=1e-4, atol=1e-5 * scale + 1e-7, msg=k)
    # Without the stop-gradient the gradients would differ.
    model.zero_grad()
    z = [
        model.neck(
            model.backbone(
                inputs[v], torch.from_numpy(np.stack([s.patch_ids[v][1] for s in samples]))
            )
        )[0]
        for v in (0, 1)
    ]
    p = [model.predictor((zv,))[0] for zv in z]
    lab = torch.arange(6)
    no_sg = F.cross_entropy(
        F.normalize(p[0], dim=1) @ F.normalize(z[1], dim=1).t() / 0.1, lab
    ) + F.cross_entropy(F.normalize(p[1], dim=1) @ F.normalize(z[0], dim=1).t() / 0.1, lab)
    no_sg.backward()
    name = 'backbone.patch_embed.projection.weight'
    assert not torch.allclose(dict(model.named_parameters())[name].grad, grads[name])


def test_train_step_takes_one_optimiser_step_per_round():
    model = _model()
    model.train()
    inputs, samples = _batch(rounds=3)
    seen, losses = [], []
    backbone_forward = model.backbone.forward

    def spy(x, patch_ids=None):
        seen.append((patch_ids.clone(), model.backbone.cls_token.detach().clone()))
        return backbone_forward(x, patch_ids)

    model.backbone.forward = spy
    loss_fn = model.loss

    def loss_spy(*args, **kwargs):
        out = loss_fn(*args, **kwargs)
        losses.append(float(out['loss'].detach()))
        return out

    model.loss = loss_spy
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-2))
    log = model.train_step(dict(inputs=inputs, data_samples=samples), optim)
    assert len(seen) == 6  # 3 rounds x 2 views
    for j in range(3):
        for v in range(2):
            expected = torch.from_numpy(np.stack([s.patch_ids[v][j] for s in samples]))
            assert torch.equal(seen[2 * j + v][0], expected), (j, v)
    # Parameters change between rounds (an optimiser step after each), not within one.
    assert torch.equal(seen[0][1], seen[1][1])
    assert not torch.equal(seen[1][1], seen[2][1])
    assert not torch.equal(seen[3][1], seen[4][1])
    steps = {int(s['step']) for s in optim.optimizer.state.values()}
    assert steps == {3}
    assert log['loss'].item() == pytest.approx(np.mean(losses), rel=1e-5)
    assert set(log) == {'loss', 'pos_sim'}


def test_ema_target_is_updated_every_round():
    model = _model(ema_momentum=0.5)
    model.train()
    inputs, samples = _batch(rounds=2)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.5))
    theta0 = model.backbone.cls_token.detach().clone()
    snapshots = []
    step = optim.step

    def step_spy(**kwargs):
        step(**kwargs)
        snapshots.append(model.backbone.cls_token.detach().clone())

    optim.step = step_spy
    model.train_step(dict(inputs=inputs, data_samples=samples), optim)
    # Round 0 copies theta0 (first EMA update), round 1 averages in theta1.
    target = model.target.module[0].cls_token
    torch.testing.assert_close(target, theta0 + 0.5 * (snapshots[0] - theta0))
    assert not torch.equal(target, model.backbone.cls_token)


def test_clear_errors():
    model = _model()
    inputs, samples = _batch(rounds=2)
    with pytest.raises(RuntimeError, match='MultiStepDistributedDataParallel'):
        model(inputs, samples, mode='loss')
    with pytest.raises(KeyError, match='SparsePatchSampling'):
        model.loss(inputs, [DataSample() for _ in samples], round_idx=0)
    with pytest.raises(ValueError, match='2 views'):
        model.loss(inputs[:1], samples, round_idx=0)
    with pytest.raises(ValueError, match='ema_momentum'):
        _model(ema_momentum=0.999 + 1)
    # One round: no round index needed (e.g. the full-view baseline).
    inputs, samples = _batch(rounds=1)
    assert torch.isfinite(model(inputs, samples, mode='loss')['loss'])


def test_checkpoint_backbone_loads_into_mmpretrain_vit():
    model = _model()
    state = {
        k[len('backbone.') :]: v for k, v in model.state_dict().items() if k.startswith('backbone.')
    }
    vit = VisionTransformer(arch=ARCH, img_size=16, patch_size=4, qkv_bias=False)
    vit.load_state_dict(state, strict=True)
    vit.eval()
    model.eval()
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(vit(x)[0], model.extract_feat(x)[0], rtol=1e-6, atol=1e-6)
