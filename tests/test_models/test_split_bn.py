"""SplitBN: per-split statistics against a per-group loop, plain BN with one split, eval, names."""

import pytest
import torch
import torch.nn as nn
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import csml_mm  # noqa: F401
from csml_mm.models.utils import SplitBatchNorm2d, convert_split_bn

init_default_scope('mmpretrain')


def _randomised(bn):
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    return bn


def test_each_split_uses_its_own_statistics():
    torch.manual_seed(0)
    x = torch.randn(12, 3, 5, 5) * 3 + torch.arange(12.0).view(12, 1, 1, 1)
    bn = _randomised(SplitBatchNorm2d(3, num_splits=4, momentum=0.1))
    rm0, rv0 = bn.running_mean.clone(), bn.running_var.clone()
    y = bn(x)
    # reference: a plain loop over the 4 consecutive groups of 3
    expected, means, vars_ = [], [], []
    for g in range(4):
        xg = x[3 * g : 3 * g + 3]
        mu = xg.mean(dim=(0, 2, 3))
        var = xg.var(dim=(0, 2, 3), unbiased=False)
        expected.append(
            (xg - mu.view(1, 3, 1, 1))
            / torch.sqrt(var.view(1, 3, 1, 1) + bn.eps)
            * bn.weight.view(1, 3, 1, 1)
            + bn.bias.view(1, 3, 1, 1)
        )
        means.append(mu)
        vars_.append(xg.var(dim=(0, 2, 3), unbiased=True))
    torch.testing.assert_close(y, torch.cat(expected), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(bn.running_mean, 0.9 * rm0 + 0.1 * torch.stack(means).mean(0))
    torch.testing.assert_close(bn.running_var, 0.9 * rv0 + 0.1 * torch.stack(vars_).mean(0))
    # gradients reach the shared affine parameters
    y.pow(2).sum().backward()
    assert bn.weight.grad is not None and bn.weight.grad.abs().sum() > 0


def test_one_split_and_eval_mode_equal_plain_batch_norm():
    torch.manual_seed(1)
    x = torch.randn(8, 4, 3, 3)
    plain = _randomised(nn.BatchNorm2d(4))
    one = SplitBatchNorm2d(4, num_splits=1)
    one.load_state_dict(plain.state_dict())
    torch.testing.assert_close(one(x), plain(x))
    torch.testing.assert_close(one.running_var, plain.running_var)
    split = SplitBatchNorm2d(4, num_splits=4)
    split.load_state_dict(plain.state_dict())
    split.eval(), plain.eval()
    torch.testing.assert_close(split(x), plain(x))
    assert not torch.allclose(split.train()(x), plain.train()(x))


def test_batch_not_divisible_names_the_fix():
    bn = SplitBatchNorm2d(2, num_splits=4)
    with pytest.raises(ValueError, match='multiple of 4'):
        bn(torch.randn(6, 2, 2, 2))


def test_registered_norm_keeps_resnet_weight_names_and_convert():
    plain = MODELS.build(dict(type='ResNet', depth=18, base_channels=8, stem_channels=8))
    split = MODELS.build(
        dict(
            type='ResNet',
            depth=18,
            base_channels=8,
            stem_channels=8,
            norm_cfg=dict(type='SplitBN', num_splits=2),
        )
    )
    assert list(plain.state_dict()) == list(split.state_dict())
    assert isinstance(split.bn1, SplitBatchNorm2d) and split.bn1.num_splits == 2
    n = convert_split_bn(plain, 4)
    assert n == sum(isinstance(m, SplitBatchNorm2d) for m in plain.modules()) > 10
    assert list(plain.state_dict()) == list(split.state_dict())


def test_splits_switch_off_under_more_than_one_process(monkeypatch):
    from csml_mm.models.utils import split_bn

    bn = SplitBatchNorm2d(2, num_splits=4).train()
    assert bn.splits_now() == 4
    monkeypatch.setattr(split_bn, 'get_world_size', lambda: 2)
    assert bn.splits_now() == 1
    bn.single_process_only = False
    assert bn.splits_now() == 4


@pytest.mark.parametrize('world_size,num_splits', [(1, 2), (2, 2), (1, 1)])
def test_grouped_batch_norm_equals_separate_passes(monkeypatch, world_size, num_splits):
    """A stacked pass of G views under grouped_batch_norm normalises each view as its own pass."""
    from csml_mm.models.utils import grouped_batch_norm, split_bn

    monkeypatch.setattr(split_bn, 'get_world_size', lambda: world_size)
    torch.manual_seed(2)
    xs = [torch.randn(4, 3, 5, 5) * (g + 1) + g for g in range(3)]
    stacked = _randomised(SplitBatchNorm2d(3, num_splits=num_splits, momentum=0.1))
    separate = SplitBatchNorm2d(3, num_splits=num_splits, momentum=0.1)
    separate.load_state_dict(stacked.state_dict())
    rm0, rv0 = stacked.running_mean.clone(), stacked.running_var.clone()
    leaves = [x.clone().requires_grad_() for x in xs]
    with grouped_batch_norm(stacked, 3):
        y = stacked(torch.cat(leaves))
    assert stacked.view_groups == 1  # reset on exit
    y.pow(2).sum().backward()
    ref_leaves = [x.clone().requires_grad_() for x in xs]
    ref = [separate(x) for x in ref_leaves]
    torch.stack([r.pow(2).sum() for r in ref]).sum().backward()
    torch.testing.assert_close(y, torch.cat(ref), rtol=1e-5, atol=1e-5)
    for a, b in zip(leaves, ref_leaves):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(stacked.weight.grad, separate.weight.grad, rtol=1e-4, atol=1e-5)
    # running statistics: one update with the mean of every group's statistics
    per_view = 1 if world_size > 1 else num_splits
    groups = [g for x in xs for g in x.chunk(per_view)]
    mean = torch.stack([g.mean(dim=(0, 2, 3)) for g in groups]).mean(0)
    var = torch.stack([g.var(dim=(0, 2, 3), unbiased=True) for g in groups]).mean(0)
    torch.testing.assert_close(stacked.running_mean, 0.9 * rm0 + 0.1 * mean)
    torch.testing.assert_close(stacked.running_var, 0.9 * rv0 + 0.1 * var)


def test_grouped_batch_norm_errors_and_which_models_qualify():
    from csml_mm.models.utils import batch_norms_all_split, grouped_batch_norm

    bn = SplitBatchNorm2d(2, num_splits=2)
    with pytest.raises(ValueError, match='3 sub-batches|6 sub-batches'):
        with grouped_batch_norm(bn, 3):
            bn(torch.randn(9, 2, 2, 2))
    assert bn.view_groups == 1  # reset after an error too
    with pytest.raises(ValueError, match='groups must be >= 1'):
        with grouped_batch_norm(bn, 0):
            pass
    split = MODELS.build(
        dict(
            type='ResNet',
            depth=18,
            base_channels=8,
            stem_channels=8,
            norm_cfg=dict(type='SplitBN', num_splits=2),
        )
    )
    plain = MODELS.build(dict(type='ResNet', depth=18, base_channels=8, stem_channels=8))
    assert batch_norms_all_split(split) and not batch_norms_all_split(plain)
    assert not batch_norms_all_split(nn.Sequential(split, nn.BatchNorm1d(4)))
    assert batch_norms_all_split(nn.Linear(2, 2))  # no batch norm at all: nothing mixes


def test_split_bn_1d_uses_each_splits_statistics():
    """SplitBN1d on (N, C) features: per-group statistics against a plain loop; eval is BN1d."""
    from csml_mm.models.utils import SplitBatchNorm1d

    torch.manual_seed(3)
    x = torch.randn(16, 5) * 2 + torch.arange(16.0).view(16, 1)
    bn = SplitBatchNorm1d(5, num_splits=4, momentum=0.1)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    rm0, rv0 = bn.running_mean.clone(), bn.running_var.clone()
    y = bn(x)
    expected, means, vars_ = [], [], []
    for g in range(4):
        xg = x[4 * g : 4 * g + 4]
        mu, var = xg.mean(0), xg.var(0, unbiased=False)
        expected.append((xg - mu) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias)
        means.append(mu)
        vars_.append(xg.var(0, unbiased=True))
    torch.testing.assert_close(y, torch.cat(expected), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(bn.running_mean, 0.9 * rm0 + 0.1 * torch.stack(means).mean(0))
    torch.testing.assert_close(bn.running_var, 0.9 * rv0 + 0.1 * torch.stack(vars_).mean(0))
    plain = nn.BatchNorm1d(5)
    plain.load_state_dict(bn.state_dict())
    torch.testing.assert_close(bn.eval()(x), plain.eval()(x))
    one = SplitBatchNorm1d(5, num_splits=1)
    one.load_state_dict(plain.state_dict())
    torch.testing.assert_close(one.train()(x), plain.train()(x))
    with pytest.raises(ValueError, match='multiple of 4'):
        bn.train()(torch.randn(6, 5))


def test_split_bn_1d_builds_in_a_projection_neck():
    """norm_cfg=dict(type='SplitBN1d') in mmpretrain's NonLinearNeck and in our neck."""
    from csml_mm.models.utils import SplitBatchNorm1d, batch_norms_all_split

    for cfg in (
        dict(
            type='NonLinearNeck',
            in_channels=8,
            hid_channels=16,
            out_channels=4,
            num_layers=2,
            with_avg_pool=True,
        ),
        dict(type='MultiLevelProjectionNeck', in_channels=[8], hid_channels=16, out_channels=4),
    ):
        neck = MODELS.build(dict(cfg, norm_cfg=dict(type='SplitBN1d', num_splits=2)))
        bns = [m for m in neck.modules() if isinstance(m, SplitBatchNorm1d)]
        assert bns and all(m.num_splits == 2 for m in bns), cfg['type']
        assert batch_norms_all_split(neck)
        out = neck((torch.randn(6, 8, 2, 2),))
        assert out[0].shape == (6, 4)
