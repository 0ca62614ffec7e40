"""MoCoV2 is mmpretrain's MoCo step for step (same losses, weights, queue and buffers), with
the momentum-encoder counter and queue pointer kept on the host; its checkpoints load into
either class and the host copies follow a loaded state."""

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmpretrain.models.selfsup.moco import MoCo
from mmpretrain.structures import DataSample

import csml_mm  # noqa: F401
from csml_mm.models.algorithms import MoCoV2
from csml_mm.utils.host_sync import HostReadCounter

CFG = dict(
    backbone=dict(
        type='ResNet', depth=18, base_channels=8, stem_channels=8, zero_init_residual=False
    ),
    neck=dict(
        type='MoCoV2Neck', in_channels=64, hid_channels=32, out_channels=16, with_avg_pool=True
    ),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2),
    queue_len=24,
    feat_dim=16,
    momentum=0.01,
)


def _build(cls):
    torch.manual_seed(0)
    model = cls(**CFG)
    model.init_weights()
    return model, OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))


def _batches(n=4):
    g = torch.Generator().manual_seed(1)
    return [
        [torch.randn(8, 3, 32, 32, generator=g), torch.randn(8, 3, 32, 32, generator=g)]
        for _ in range(n)
    ]


def _train(model, wrapper, batches):
    losses = []
    samples = [DataSample() for _ in range(8)]
    for inputs in batches:
        with wrapper.optim_context(model):
            loss = model.loss(inputs, samples)['loss']
        wrapper.update_params(loss)
        losses.append(float(loss.detach()))
    return losses


# oneDNN's CPU kernels may round differently with the memory layout of the moment (two live
# models of one class differ in the 7th digit too), so the comparisons allow float rounding
def _same(a, b):
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_same_steps_as_mmpretrains_moco():
    batches = _batches()
    ours, w1 = _build(MoCoV2)
    ours_losses = _train(ours, w1, batches)  # the queue wraps: 4 batches of 8, 24 slots
    ref, w2 = _build(MoCo)
    _same(torch.tensor(ours_losses), torch.tensor(_train(ref, w2, batches)))
    a, b = ours.state_dict(), ref.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        _same(a[key].float(), b[key].float())
    assert int(a['queue_ptr']) == 8 and int(a['encoder_k.steps']) == 4


def test_a_loaded_state_moves_the_host_copies():
    ref, w_ref = _build(MoCo)
    _train(ref, w_ref, _batches(2))  # queue_ptr 16, 2 EMA updates
    ours, w1 = _build(MoCoV2)
    ours.load_state_dict(ref.state_dict())
    more = _batches(3)[2:]
    _same(torch.tensor(_train(ours, w1, more)), torch.tensor(_train(ref, w_ref, more)))
    assert int(ours.queue_ptr) == int(ref.queue_ptr) == 0  # wrote at 16, wrapped to 0
    _same(ours.queue, ref.queue)


def test_no_host_read_in_a_step_and_auto_queue_refused():
    model, wrapper = _build(MoCoV2)
    _train(model, wrapper, _batches(1))
    with HostReadCounter(model) as counter:
        _train_no_float(model, wrapper, _batches(1))
    assert counter.count == 0, counter.report()
    with pytest.raises(ValueError, match="queue_len='auto'"):
        MoCoV2(**dict(CFG, queue_len='auto'))


def _train_no_float(model, wrapper, batches):
    samples = [DataSample() for _ in range(8)]
    for inputs in batches:
        with wrapper.optim_context(model):
            loss = model.loss(inputs, samples)['loss']
        wrapper.update_params(loss)
