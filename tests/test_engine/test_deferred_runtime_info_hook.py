"""DeferredRuntimeInfoHook hands the message hub the same values at the same iterations'
log lines as mmengine's RuntimeInfoHook, reading the device once per logger interval."""

import os.path as osp
import sys

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

import csml_mm  # noqa: F401

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'test_reliability'))
from reliability_helpers import ALGORITHMS  # noqa: E402


def _run(repo_root, tmp_path, hook_type):
    cfg = Config.fromfile(osp.join(repo_root, 'tests', 'data', 'configs', ALGORITHMS['wcl']))
    cfg.work_dir = str(tmp_path / hook_type)
    cfg.experiment_name = f'deferred_{hook_type}'
    cfg.train_cfg.max_epochs = 2
    cfg.default_hooks.runtime_info = dict(type=hook_type)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=3)  # 4 iterations an epoch
    cfg.default_hooks.checkpoint = dict(type='SafeCheckpointHook', interval=100)
    runner = Runner.from_cfg(cfg)
    lines = []
    log = runner.logger.info
    runner.logger.info = lambda msg, *a, **k: (lines.append(msg), log(msg, *a, **k))
    runner.train()
    hub = runner.message_hub
    history = {
        k: (list(v.data[0]), list(v.data[1]))
        for k, v in hub.log_scalars.items()
        if k.startswith('train/') and k != 'train/time' and k != 'train/data_time'
    }
    shown = [
        ln.split('eta:')[0] + ln.split('data_time:')[-1].split(' ', 2)[-1]
        for ln in lines
        if 'Epoch(train)' in ln
    ]
    return history, shown


@pytest.mark.slow
def test_same_logged_values_as_mmengines_hook(repo_root, tmp_path):
    ref_history, ref_lines = _run(repo_root, tmp_path, 'RuntimeInfoHook')
    history, lines = _run(repo_root, tmp_path, 'DeferredRuntimeInfoHook')
    assert history.keys() == ref_history.keys() and 'train/loss_graph' in history
    for key, (values, counts) in ref_history.items():
        assert history[key][1] == counts, key
        assert history[key][0] == values, key  # every iteration's value, bit for bit
    assert len(lines) == len(ref_lines) == 2  # iteration 3 of each epoch (the last, partial
    # window of an epoch is not printed: LoggerHook.ignore_last)
    assert lines == ref_lines  # the same loss terms, window means included
