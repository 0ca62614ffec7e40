"""WCL: the graph loss and the instance loss against plain-loop references, SimCLR
parity, KNN multi-crop, the LARS parameter grouping and bad input."""

import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import csml_mm  # noqa: F401
from csml_mm.models.heads import KNNWeakLabelHead

try:
    from . import wcl_reference as ref
except ImportError:  # rootdir-based import (no package)
    import wcl_reference as ref

init_default_scope('mmpretrain')
ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def neck_cfg(in_channels=32, hid=16, out=8):
    return dict(
        type='NonLinearNeck',
        in_channels=in_channels,
        hid_channels=hid,
        out_channels=out,
        num_layers=3,
        with_bias=True,
        with_last_bias=True,
        with_last_bn=False,
        norm_cfg=dict(type='BN1d'),
    )


def wcl_cfg(**kw):
    cfg = dict(
        type='WCL',
        backbone=dict(
            type='ResNet',
            depth=18,
            base_channels=4,
            stem_channels=4,
            norm_cfg=dict(type='BN'),
            zero_init_residual=False,
        ),
        neck=neck_cfg(),
        head=dict(type='MultiPositiveContrastiveHead', temperature=0.1, mode='supcon'),
        graph_head=dict(type='KNNWeakLabelHead', temperature=0.1),
    )
    cfg.update(kw)
    return cfg


def views(n=6, num=2, size=16, seed=0, small=0, small_size=8):
    g = torch.Generator().manual_seed(seed)
    out = [torch.randn(n, 3, size, size, generator=g) for _ in range(num)]
    out += [torch.randn(n, 3, small_size, small_size, generator=g) for _ in range(small)]
    return out


def samples(n):
    return [DataSample() for _ in range(n)]


# ------------------------------------------------------------------ graph loss
@pytest.mark.parametrize('n', [2, 3, 9, 24])
def test_graph_loss_matches_plain_loop_reference_and_gradients(n):
    g = torch.Generator().manual_seed(n)
    z1 = torch.randn(n, 5, generator=g, dtype=torch.float64).requires_grad_()
    z2 = torch.randn(n, 5, generator=g, dtype=torch.float64).requires_grad_()
    head = KNNWeakLabelHead(temperature=0.1)
    ours, labels = head.loss(z1.float(), z2.float(), return_labels=True)
    expect, (y1, y2) = ref.graph_loss(z1, z2, t=0.1)
    assert ours.item() == pytest.approx(expect.item(), rel=1e-5, abs=1e-5)
    # the same partitions as the union-find reference
    for got, want in ((labels['labels1'], y1), (labels['labels2'], y2)):
        pairs = set(zip(got.tolist(), want))
        assert len(pairs) == len(set(want)) == len(set(got.tolist()))
    g_ours = torch.autograd.grad(ours, (z1, z2))
    g_ref = torch.autograd.grad(expect, (z1, z2))
    for a, b in zip(g_ours, g_ref):
        assert torch.allclose(a, b, atol=1e-5)


def test_graph_loss_uses_swapped_labels_and_excludes_self():
    # Find data where the two views' graphs differ, so that swapping matters.
    for seed in range(50):
        g = torch.Generator().manual_seed(seed)
        z1, z2 = torch.randn(12, 4, generator=g), torch.randn(12, 4, generator=g)
        if ref.graph_loss(z1, z2)[0].item() != pytest.approx(
            ref.graph_loss(z1, z2, swap=False)[0].item(), abs=1e-3
        ):
            break
    ours = KNNWeakLabelHead(0.1).loss(z1, z2).item()
    assert ours == pytest.approx(ref.graph_loss(z1, z2)[0].item(), rel=1e-5)
    # the reference variants that the head must *not* equal
    same_view = ref.graph_loss(z1, z2, swap=False)[0].item()
    with_self = ref.graph_loss(z1, z2, include_self=True)[0].item()
    assert abs(ours - same_view) > 1e-3
    assert abs(ours - with_self) > 1e-3
    assert KNNWeakLabelHead(0.1, label_source='same').loss(z1, z2).item() == pytest.approx(
        same_view, rel=1e-5
    )


def test_graph_loss_duplicates_give_finite_loss():
    z = torch.ones(6, 3)
    z[3:] = -1
    loss = KNNWeakLabelHead(0.1).loss(z, z.clone())
    assert torch.isfinite(loss)


def test_graph_head_bad_input():
    head = KNNWeakLabelHead(0.1)
    with pytest.raises(ValueError, match='at least 2 samples.*batch_size'):
        head.loss(torch.randn(1, 4), torch.randn(1, 4))
    bad = torch.randn(4, 4)
    bad[2, 1] = float('nan')
    with pytest.raises(FloatingPointError, match='NaN or Inf'):
        head.loss(bad, torch.randn(4, 4))
    with pytest.raises(ValueError, match='z1 and z2'):
        head.loss(torch.randn(4, 4), torch.randn(5, 4))
    with pytest.raises(ValueError, match='label_source'):
        KNNWeakLabelHead(0.1, label_source='cross')


# --------------------------------------------------------------- instance loss
def test_instance_loss_matches_nt_xent_reference():
    torch.manual_seed(0)
    model = MODELS.build(wcl_cfg())
    g = torch.Generator().manual_seed(1)
    z1 = torch.randn(7, 8, generator=g, dtype=torch.float64).requires_grad_()
    z2 = torch.randn(7, 8, generator=g, dtype=torch.float64).requires_grad_()
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    ours = model.instance_loss(z, torch.arange(7).repeat(2), 7)
    expect = ref.nt_xent(z1, z2, t=0.1)
    assert ours.item() == pytest.approx(expect.item(), rel=1e-5)
    for a, b in zip(torch.autograd.grad(ours, (z1, z2)), torch.autograd.grad(expect, (z1, z2))):
        assert torch.allclose(a, b, atol=1e-5)


def test_two_view_wcl_instance_term_equals_mmpretrain_simclr():
    torch.manual_seed(0)
    ours = MODELS.build(wcl_cfg())
    simclr = MODELS.build(
        dict(
            type='SimCLR',
            backbone=wcl_cfg()['backbone'],
            neck=neck_cfg(),
            head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.1),
        )
    )
    simclr.backbone.load_state_dict(ours.backbone.state_dict())
    simclr.neck.load_state_dict(ours.neck.state_dict())
    x = views(n=6)
    l_ours = ours.loss(x, samples(6))
    l_simclr = simclr.loss(x, samples(6))['loss']
    assert l_ours['loss_ins'].item() == pytest.approx(l_simclr.item(), rel=1e-4)


def test_full_loss_equals_references_on_model_features():
    torch.manual_seed(0)
    model = MODELS.build(wcl_cfg(graph_weight=0.7))
    model.eval()  # BN from running statistics: features are per-sample functions
    x = views(n=10)
    losses = model.loss(x, samples(10))
    with torch.no_grad():
        feat = model.backbone(torch.cat(x))
        z = model.neck(feat)[0].double()
        u = model.graph_neck(feat)[0].double()
    assert losses['loss_ins'].item() == pytest.approx(ref.nt_xent(z[:10], z[10:]).item(), rel=1e-5)
    assert losses['loss_graph'].item() == pytest.approx(
        0.7 * ref.graph_loss(u[:10], u[10:])[0].item(), rel=1e-5
    )
    assert losses['graph_mean_size'].item() >= 2.0
    # the heads have the same architecture but their own weights
    assert model.neck.fc0.weight.shape == model.graph_neck.fc0.weight.shape
    assert not torch.equal(model.neck.fc0.weight, model.graph_neck.fc0.weight)
    total = losses['loss_ins'] + losses['loss_graph']
    total.backward()
    assert model.graph_neck.fc2.weight.grad.abs().sum() > 0
    assert model.neck.fc2.weight.grad.abs().sum() > 0


def test_graph_weight_zero_drops_the_graph_term():
    model = MODELS.build(wcl_cfg(graph_weight=0.0))
    assert set(model.loss(views(n=4), samples(4))) == {'loss_ins'}


# ------------------------------------------------------------------ multi-crop
def test_multicrop_selection_and_instance_supcon_match_reference():
    torch.manual_seed(0)
    model = MODELS.build(wcl_cfg(num_small_crops=4, knn_k=2))
    model.eval()
    x = [v.requires_grad_() for v in views(n=5, small=4)]
    losses = model.loss(x, samples(5))
    with torch.no_grad():
        z = model.neck(model.backbone(torch.cat(x[:2])))[0].double()
        zs = model.neck(model.backbone(torch.cat(x[2:])))[0].double().view(4, 5, -1)
    chosen = ref.select_small_crops(z[:5], z[5:], list(zs), 2)
    rows = [z[:5], z[5:]]
    ids = list(range(5)) * 2
    for i in range(5):
        for s in chosen[i]:
            rows.append(zs[s, i : i + 1])
            ids.append(i)
    expect = ref.instance_supcon(torch.cat(rows), ids, t=0.1)
    assert losses['loss_ins'].item() == pytest.approx(expect.item(), rel=1e-5)
    # gradient reaches exactly the kept small crops (eval mode: no BN coupling)
    losses['loss_ins'].backward()
    for s in range(4):
        grad = x[2 + s].grad.flatten(1).abs().sum(1)
        for i in range(5):
            assert (grad[i] > 0) == (s in chosen[i]), (s, i)


def test_multicrop_with_all_crops_kept_is_supcon_over_every_view():
    torch.manual_seed(0)
    model = MODELS.build(wcl_cfg(num_small_crops=2, knn_k=2))
    model.eval()
    x = views(n=4, small=2)
    losses = model.loss(x, samples(4))
    with torch.no_grad():
        z = model.neck(model.backbone(torch.cat(x[:2])))[0].double()
        zs = model.neck(model.backbone(torch.cat(x[2:])))[0].double()
    expect = ref.instance_supcon(torch.cat([z, zs]), list(range(4)) * 4)
    assert losses['loss_ins'].item() == pytest.approx(expect.item(), rel=1e-5)


# ------------------------------------------------------------------- bad input
def test_bad_input_messages():
    model = MODELS.build(wcl_cfg())
    with pytest.raises(ValueError, match='needs 2 views.*MultiView'):
        model.loss(views(n=4, num=1), samples(4))
    with pytest.raises(ValueError, match='needs 2 views'):
        model.loss(views(n=4, num=1)[0], samples(4))
    with pytest.raises(ValueError, match='at least 2 samples in the global batch'):
        model.loss(views(n=1), samples(1))
    mc = MODELS.build(wcl_cfg(num_small_crops=3, knn_k=1))
    with pytest.raises(ValueError, match=r'num_small_crops=3.*gave 4'):
        mc.loss(views(n=4, small=2), samples(4))
    with pytest.raises(ValueError, match='knn_k=5'):
        MODELS.build(wcl_cfg(num_small_crops=3, knn_k=5))
    with torch.no_grad():
        model.backbone.conv1.weight[0, 0, 0, 0] = float('nan')
    with pytest.raises(FloatingPointError, match='NaN or Inf.*lr'):
        model.loss(views(n=4), samples(4))


# ------------------------------------------------------------- LARS grouping
def test_lars_parameter_groups_follow_wcl_names():
    from mmengine.config import Config

    sched = Config.fromfile(osp.join(ROOT, 'configs/_base_/schedules/lars_wcl_coslr-200e.py'))
    model = MODELS.build(wcl_cfg())
    wrapper = build_optim_wrapper(model, sched.optim_wrapper)
    groups = {}
    for name, p in model.named_parameters():
        grp = next(g for g in wrapper.optimizer.param_groups if any(q is p for q in g['params']))
        groups[name] = grp
    wd = sched.optim_wrapper.optimizer.weight_decay
    for name, grp in groups.items():
        excluded = 'bn' in name or 'bias' in name
        assert grp.get('lars_exclude', False) == excluded, name
        assert grp['weight_decay'] == (0 if excluded else wd), name
    # the released code's quirk: downsample BNs (downsample.1.*) are not excluded
    assert not groups['backbone.layer2.0.downsample.1.weight'].get('lars_exclude', False)
    assert groups['backbone.layer2.0.downsample.1.weight']['weight_decay'] == wd
    assert groups['graph_neck.bn0.weight']['lars_exclude']


def test_bf16_autocast_keeps_the_losses_close_to_fp32():
    torch.manual_seed(0)
    model = MODELS.build(wcl_cfg())
    model.eval()
    x = views(n=8)
    fp32 = model.loss(x, samples(8))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        bf16 = model.loss(x, samples(8))
    for key in ('loss_ins', 'loss_graph'):
        assert bf16[key].dtype == torch.float32
        assert bf16[key].item() == pytest.approx(fp32[key].item(), rel=0.05), key


# ------------------------------------------------------------ label purity monitor
def _purity_loop(comps, classes):
    """Plain-loop reference: per labelled image with labelled mates, the share of its
    component mates (labelled ones) with its class; unlabelled images (None) are left out."""
    shares = []
    for i in range(len(comps)):
        if classes[i] is None:
            continue
        mates = [
            j
            for j in range(len(comps))
            if j != i and comps[j] == comps[i] and classes[j] is not None
        ]
        if mates:
            shares.append(sum(classes[j] == classes[i] for j in mates) / len(mates))
    return 100 * sum(shares) / len(shares)


def test_graph_purity_matches_plain_loop_and_is_only_a_monitor():
    from csml_mm.models.algorithms.wcl import WCL

    classes = [0, 0, 1, 1, 1, 2, 0, 2]
    weak = dict(
        labels1=torch.tensor([0, 0, 0, 1, 1, 2, 2, 2]),
        labels2=torch.tensor([5, 5, 7, 7, 7, 5, 9, 9]),
    )
    data = [DataSample().set_gt_label(c) for c in classes]
    got = WCL.graph_purity(weak, data, torch.device('cpu'))
    want = 0.5 * (
        _purity_loop(weak['labels1'].tolist(), classes)
        + _purity_loop(weak['labels2'].tolist(), classes)
    )
    assert got is not None and abs(float(got) - want) < 1e-4
    assert WCL.graph_purity(weak, samples(8), torch.device('cpu')) is None  # no labels
    # a sample without a label is left out of the purity, not counted as a miss
    part = [None, 0, 1, 1, 1, 2, 0, 2]
    data = [DataSample() if c is None else DataSample().set_gt_label(c) for c in part]
    got = WCL.graph_purity(weak, data, torch.device('cpu'))
    want = 0.5 * (
        _purity_loop(weak['labels1'].tolist(), part) + _purity_loop(weak['labels2'].tolist(), part)
    )
    assert abs(float(got) - want) < 1e-4

    # in a training step: logged next to the loss, with the same loss as without labels
    torch.manual_seed(0)
    model = MODELS.build(wcl_cfg())
    x = views(n=8)
    with_labels = model.loss(x, [DataSample().set_gt_label(c) for c in classes])
    without = model.loss(x, samples(8))
    assert 'graph_purity' in with_labels and 'graph_purity' not in without
    assert 0 <= float(with_labels['graph_purity']) <= 100
    for key in ('loss_ins', 'loss_graph'):
        assert torch.equal(with_labels[key], without[key])
    assert not with_labels['graph_purity'].requires_grad
