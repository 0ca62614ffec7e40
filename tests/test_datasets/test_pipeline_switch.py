"""PipelineSwitch + PipelineSwitchHook: persistent dataloader workers (fork and spawn)
see a stage switch made in the main process; resume lands in the right stage."""

import logging
import os
from types import SimpleNamespace

import pytest
import torch
from mmengine.dataset import default_collate
from mmengine.registry import init_default_scope
from torch.utils.data import DataLoader

import csml_mm  # noqa: F401
from csml_mm.datasets import Digits, PipelineSwitch
from csml_mm.datasets.pipeline_switch import find_pipeline_switches
from csml_mm.engine.hooks import PipelineSwitchHook

init_default_scope('mmpretrain')


def _dataset(n=4):
    # stage 0 resizes to 8 px, stage 1 to 16 px: the batch shape tells the stage
    switch = dict(
        type='PipelineSwitch',
        pipelines=[
            [dict(type='MultiView', num_views=2, transforms=[[dict(type='Resize', scale=(8, 8))]])],
            [
                dict(
                    type='MultiView',
                    num_views=2,
                    transforms=[[dict(type='Resize', scale=(16, 16))]],
                )
            ],
        ],
    )
    return Digits(split='train', indices=n, pipeline=[switch, dict(type='PackInputs')])


class _Pid:
    """Collate that also records which process built each sample."""

    def __call__(self, batch):
        out = default_collate(batch)
        out['pid'] = os.getpid()
        return out


def _runner(loader, epoch):
    return SimpleNamespace(
        train_dataloader=loader, epoch=epoch, logger=logging.getLogger('test_pipeline_switch')
    )


def _epoch(loader):
    sizes, pids = set(), set()
    for batch in loader:
        sizes.update(v.shape[-1] for v in batch['inputs'])
        pids.add(batch['pid'])
    return sizes, pids


@pytest.mark.slow
@pytest.mark.parametrize('context', ['fork', 'spawn'])
def test_persistent_worker_sees_the_switch_and_resume(context):
    loader = DataLoader(
        _dataset(),
        batch_size=2,
        num_workers=1,
        persistent_workers=True,
        multiprocessing_context=context,
        collate_fn=_Pid(),
    )
    hook = PipelineSwitchHook(switch_epochs=[2])
    hook.before_train(_runner(loader, 0))
    seen = []
    for epoch in range(4):
        hook.before_train_epoch(_runner(loader, epoch))
        sizes, pids = _epoch(loader)
        seen.append((sizes, pids))
    assert [s for s, _ in seen] == [{8}, {8}, {16}, {16}]
    worker_pids = set().union(*(p for _, p in seen))
    assert len(worker_pids) == 1 and os.getpid() not in worker_pids  # one persistent worker
    # a resumed run starting at epoch 3 selects stage 1 before its first batch
    fresh = DataLoader(
        _dataset(),
        batch_size=2,
        num_workers=1,
        persistent_workers=True,
        multiprocessing_context=context,
        collate_fn=_Pid(),
    )
    hook2 = PipelineSwitchHook(switch_epochs=[2])
    hook2.before_train(_runner(fresh, 3))
    hook2.before_train_epoch(_runner(fresh, 3))
    assert _epoch(fresh)[0] == {16}


def test_unset_stage_and_bad_configs_fail_clearly():
    ds = _dataset(2)
    with pytest.raises(RuntimeError, match='PipelineSwitchHook'):
        ds[0]
    sw = next(find_pipeline_switches(ds))
    sw.set_stage(1)
    assert ds[0]['inputs'][0].shape[-1] == 16
    with pytest.raises(ValueError, match='out of range'):
        sw.set_stage(2)
    with pytest.raises(ValueError, match='at least two'):
        PipelineSwitch(pipelines=[[]])
    with pytest.raises(ValueError, match='3 stages'):
        PipelineSwitchHook([1, 2]).before_train(_runner(ds, 0))
    with pytest.raises(ValueError, match='no PipelineSwitch'):
        PipelineSwitchHook([1]).before_train(
            _runner(Digits(split='train', indices=2, pipeline=[]), 0)
        )
    with pytest.raises(ValueError, match='increasing'):
        PipelineSwitchHook([3, 3])
    assert PipelineSwitch(pipelines=[[], []], initial_stage=1).stage == 1
    hook = PipelineSwitchHook([10, 20])
    assert [hook.stage_for_epoch(e) for e in (0, 9, 10, 19, 20, 99)] == [0, 0, 1, 1, 2, 2]


def test_switch_is_found_inside_wrappers():
    from mmengine.dataset import ConcatDataset

    a, b = _dataset(2), _dataset(2)
    found = list(find_pipeline_switches(ConcatDataset([a, b])))
    assert len(found) == 2 and all(isinstance(s, PipelineSwitch) for s in found)
    assert torch.is_tensor(found[0]._stage) and found[0]._stage.is_shared()
