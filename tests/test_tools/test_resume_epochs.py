"""Resuming keeps the schedule a run was started with: a run of ``tools/train.py CONFIG
--epochs 6`` resumed without ``--epochs 6`` would end at the config's own length on a schedule
stretched for 6, so tools/train.py refuses it and names the flag."""

import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from csml_mm.engine.resume import resume_epochs_problem
from csml_mm.utils.run_size import epoch_options

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CONFIG = 'configs/csml/csml_resnet18-w16_1xb128-bnneck-coslr-4e_fmnist.py'


def _stretched(epochs: int) -> Config:
    cfg = Config.fromfile(osp.join(ROOT, CONFIG))
    cfg.merge_from_dict({k: int(v) for k, v in (o.split('=') for o in epoch_options(cfg, epochs))})
    return cfg


def _checkpoint(path, cfg=None) -> str:
    meta = {'epoch': 3, 'iter': 1404}
    if cfg is not None:
        meta['cfg'] = cfg.pretty_text  # what mmengine's Runner saves
    torch.save({'meta': meta, 'state_dict': {'w': torch.ones(2)}}, str(path))
    return str(path)


def test_the_schedule_a_run_started_with_must_be_kept(tmp_path):
    six = _checkpoint(tmp_path / 'six.pth', _stretched(6))
    own = Config.fromfile(osp.join(ROOT, CONFIG))
    problem = resume_epochs_problem(six, own.param_scheduler, None)
    assert problem and 'pass --epochs 6' in problem and 'the config as it is' in problem
    problem = resume_epochs_problem(six, _stretched(8).param_scheduler, 8)
    assert problem and '--epochs 8 gives' in problem
    assert resume_epochs_problem(six, _stretched(6).param_scheduler, 6) is None
    # stopped early by max_epochs alone, resumed with more: the same schedule, fine
    short = Config.fromfile(osp.join(ROOT, CONFIG))
    short.train_cfg.max_epochs = 1
    early = _checkpoint(tmp_path / 'early.pth', short)
    assert resume_epochs_problem(early, own.param_scheduler, None) is None
    # a checkpoint without a saved config: nothing to compare
    assert (
        resume_epochs_problem(_checkpoint(tmp_path / 'bare.pth'), own.param_scheduler, None) is None
    )


def test_train_refuses_to_resume_without_the_epochs_it_started_with(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location(
        '_resume_train', osp.join(ROOT, 'tools', 'train.py')
    )
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    monkeypatch.setenv('LOCAL_RANK', '0')  # parse_args sets it otherwise
    monkeypatch.chdir(ROOT)
    six = _checkpoint(tmp_path / 'epoch_3.pth', _stretched(6))
    with pytest.raises(ValueError, match='pass --epochs 6'):
        train.main([CONFIG, '--resume', six, '--work-dir', str(tmp_path)])
