"""Config typo detection, the non-finite loss hook and the CPU DDP wrapper."""

import math
from types import SimpleNamespace

import pytest
import torch.nn as nn
from mmengine.config import Config

import csml_mm  # noqa: F401
from csml_mm.engine.hooks import NonFiniteLossHook
from csml_mm.utils import check_config, find_key_typos


def test_find_key_typos():
    typos = find_key_typos(
        ['train_dataloder', 'optim_wraper', 'model', 'view_pipeline', 'dataset_type', '_base_']
    )
    assert typos == {'train_dataloder': 'train_dataloader', 'optim_wraper': 'optim_wrapper'}


def test_check_config_names_the_fix():
    cfg = Config(dict(model=dict(type='MoCo'), param_schedular=[]))
    with pytest.raises(KeyError, match="'param_schedular' \\(did you mean 'param_scheduler'"):
        check_config(cfg)
    check_config(Config(dict(model=dict(type='MoCo'), view_pipeline=[])))


def _runner(epoch=0, it=4):
    return SimpleNamespace(epoch=epoch, iter=it)


def test_nonfinite_loss_hook():
    hook = NonFiniteLossHook(interval=1)
    hook.every_n_train_iters = lambda runner, n: True
    hook.after_train_iter(_runner(), 0, outputs={'loss': 1.0, 'acc': math.nan})  # acc ignored
    with pytest.raises(FloatingPointError, match='Non-finite loss at epoch 1, iteration 5'):
        hook.after_train_iter(_runner(), 0, outputs={'loss': math.nan})
    with pytest.raises(FloatingPointError, match='lower learning rate'):
        hook.after_train_iter(_runner(), 0, outputs={'loss_mix': math.inf})


def test_cpu_ddp_wrapper_drops_device_ids(monkeypatch):
    from csml_mm.engine import CsmlDistributedDataParallel

    seen = {}

    def fake_init(self, module, detect_anomalous_params=False, **kwargs):
        seen.update(kwargs)

    monkeypatch.setattr('mmengine.model.MMDistributedDataParallel.__init__', fake_init)
    CsmlDistributedDataParallel(nn.Linear(2, 2), device_ids=[0], output_device=0)
    assert 'device_ids' not in seen and 'output_device' not in seen
    assert seen['broadcast_buffers'] is False
