"""DeviceLARS: mmpretrain's LARS update with the trust ratio kept on the device."""

import pytest
import torch
from mmpretrain.engine.optimizers import LARS

from csml_mm.engine.optimizers import DeviceLARS
from csml_mm.utils.host_sync import HostReadCounter


def _params(seed):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.nn.Parameter(torch.randn(8, 5, generator=g)),
        torch.nn.Parameter(torch.zeros(5)),  # zero weight norm: ratio 1
        torch.nn.Parameter(torch.randn(3, generator=g)),
        torch.nn.Parameter(torch.randn(4, generator=g)),
    ]  # its gradient is zero


def _groups(params, nesterov):
    return [
        dict(params=params[:2], weight_decay=1e-4, nesterov=nesterov),
        dict(params=params[2:], weight_decay=0.0, lars_exclude=True),
    ]


@pytest.mark.parametrize('momentum, nesterov', [(0.9, False), (0.9, True), (0.0, False)])
def test_updates_match_mmpretrain_lars(momentum, nesterov):
    ours, ref = _params(0), _params(0)
    opt = DeviceLARS(_groups(ours, nesterov), lr=0.3, momentum=momentum, eta=0.01, eps=1e-8)
    opt_ref = LARS(_groups(ref, nesterov), lr=0.3, momentum=momentum, eta=0.01, eps=1e-8)
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        grads = [torch.randn(p.shape, generator=g) for p in ours]
        grads[3].zero_()
        for p, q, gr in zip(ours, ref, grads):
            p.grad, q.grad = gr.clone(), gr.clone()
        opt.step()
        opt_ref.step()
        for p, q in zip(ours, ref):
            torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_a_step_reads_nothing_back_from_the_device():
    params = _params(2)
    opt = DeviceLARS(_groups(params, False), lr=0.1, momentum=0.9)
    for p in params:
        p.grad = torch.ones_like(p)
    with HostReadCounter(*params) as counter:
        opt.step()
        opt.step()
    assert counter.count == 0, counter.report()
    # mmpretrain's class reads both norms of each non-excluded tensor with a gradient
    ref_params = _params(2)
    ref = LARS(_groups(ref_params, False), lr=0.1, momentum=0.9)
    for p in ref_params:
        p.grad = torch.ones_like(p)
    with HostReadCounter(*ref_params) as counter:
        ref.step()
    assert counter.count == 4, counter.report()
