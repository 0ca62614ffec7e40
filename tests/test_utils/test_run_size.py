"""Sizes that follow the run: --epochs with its schedule, workers capped by the cores, and
MoCo's queue sized from the training set (model.queue_len='auto')."""

import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from csml_mm.utils import run_size
from csml_mm.utils.checkpoint import safe_torch_load

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


@pytest.mark.parametrize(
    'images,batch,expected',
    [
        (60000, 128, 3712),  # 60000 // 16 = 3750 -> 29 batches of 128
        (2400, 64, 128),  # 150 -> 2 batches
        (100, 64, 64),  # 6 -> at least one batch
        (2_000_000, 256, 65536),  # capped at MoCo's ImageNet queue
        (1_281_167, 256, 65536),
    ],
)
def test_auto_queue_len(images, batch, expected):
    queue, why = run_size.auto_queue_len(images, batch)
    # the rule, written out: a multiple of the batch, at most min(65536, images / 16) unless
    # that is below one batch
    assert queue == expected
    assert queue % batch == 0 and (queue <= min(65536, images // 16) or queue == batch)
    assert str(images) in why and str(queue) in why
    with pytest.raises(ValueError, match='need images and a batch'):
        run_size.auto_queue_len(0, batch)


def test_workers_are_capped_everywhere_a_loader_is():
    cfg = Config(
        dict(
            train_dataloader=dict(batch_size=4, num_workers=8, dataset=dict(type='X')),
            val_dataloader=dict(batch_size=4, num_workers=1, dataset=dict(type='X')),
            custom_hooks=[
                dict(
                    type='NeighbourMiningHook',
                    dataloader=dict(batch_size=8, num_workers=6, dataset=dict(type='X')),
                )
            ],
        )
    )
    changes = run_size.cap_workers(cfg, cores=2)
    assert cfg.train_dataloader.num_workers == 2 and cfg.val_dataloader.num_workers == 1
    assert cfg.custom_hooks[0]['dataloader']['num_workers'] == 2
    assert changes == [
        'train_dataloader.num_workers 8 -> 2',
        'custom_hooks.0.dataloader.num_workers 6 -> 2',
    ]
    assert run_size.cap_workers(cfg, cores=2) == []


def test_epochs_warns_about_settings_that_would_never_start():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/csml/csml_resnet50_8xb32-coslr-200e_folder.py'))
    warnings = run_size.epoch_warnings(cfg, 10)  # the cross-sample warm-up is 11 epochs
    assert len(warnings) == 1 and 'model.cross_warmup_epochs=11' in warnings[0]
    assert run_size.epoch_warnings(cfg, 12) == []
    wcl = Config.fromfile(
        osp.join(ROOT, 'configs/wcl/wcl_resnet18-cifar_1xb256-lars-coslr-200e_cifar10.py')
    )
    warnings = run_size.epoch_warnings(wcl, 10)  # multi-crop from epoch 10
    assert len(warnings) == 1 and 'PipelineSwitchHook' in warnings[0] and '[10]' in warnings[0]
    assert run_size.epoch_warnings(wcl, 11) == []


def test_epochs_needs_an_epoch_based_config():
    with pytest.raises(ValueError, match='max_iters'):
        run_size.epoch_options(Config(dict(train_cfg=dict(max_iters=10))), 3)
    with pytest.raises(ValueError, match='at least 1'):
        run_size.epoch_options(Config(dict(train_cfg=dict(max_epochs=10))), 0)


def test_train_tool_sizes_the_run_from_the_data(
    tmp_path, repo_root, subprocess_env, tiny_moco_folder_config
):
    data = tmp_path / 'imgs'
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)).save(
            data / f'{i:02d}.png'
        )
    cfg = tiny_moco_folder_config(
        tmp_path / 'auto.py', queue_len='auto', num_workers=64, one_epoch=False
    )
    work = tmp_path / 'work'
    env = dict(subprocess_env, CSML_DATA_ROOT=str(data))
    proc = subprocess.run(
        [
            sys.executable,
            'tools/train.py',
            str(cfg),
            '--work-dir',
            str(work),
            '--epochs',
            '1',
            '--cfg-options',
            'default_hooks.logger.interval=50',
        ],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    # the 200-epoch cosine now ends after 1 epoch, and the run with it
    assert (
        '--epochs 1: train_cfg.max_epochs=1, param_scheduler.0.end=1, '
        'param_scheduler.0.T_max=1' in out
    ), out[-3000:]
    cores = run_size.available_cores()
    assert f'train_dataloader.num_workers 64 -> {cores}' in out
    # 40 images // 16 = 2 keys: less than a batch of 4, so one batch
    assert 'model.queue_len=auto -> 4:' in out
    # alive before the logger's first line (10 iterations, the logger's come every 50)
    assert (
        len(re.findall(r'\[first steps\] iteration 1/10: [\d.]+ s an iteration so far', out)) == 1
    ), out[-3000:]
    ckpt = safe_torch_load(str(work / 'epoch_1.pth'))
    assert ckpt['state_dict']['queue'].shape == torch.Size([16, 4])
    assert not osp.exists(work / 'epoch_2.pth')


def _auto_cfg():
    return Config(
        dict(model=dict(type='MoCo', queue_len='auto'), train_dataloader=dict(batch_size=24))
    )


def test_eval_tools_take_the_auto_queue_from_the_checkpoint(tmp_path):
    """kNN evaluation builds the model of an `'auto'` config without its training data: the
    queue buffer must have the trained shape for the checkpoint to load."""
    ckpt = tmp_path / 'epoch_3.pth'
    torch.save(
        {
            'state_dict': {
                'backbone.conv1.weight': torch.zeros(2, 3, 1, 1),
                'queue': torch.zeros(16, 384),
                'queue_ptr': torch.zeros(1),
            },
            'meta': {},
        },
        ckpt,
    )
    cfg = _auto_cfg()
    why = run_size.resolve_auto_queue_for_eval(cfg, str(ckpt))
    assert cfg.model.queue_len == 384 and "checkpoint's queue" in why
    # CsMl's queue has a level axis first
    torch.save({'state_dict': {'queue': torch.zeros(2, 16, 256)}}, tmp_path / 'csml.pth')
    cfg = _auto_cfg()
    run_size.resolve_auto_queue_for_eval(cfg, str(tmp_path / 'csml.pth'))
    assert cfg.model.queue_len == 256
    # a backbone-only export has no queue: say what to set
    torch.save({'backbone.conv1.weight': torch.zeros(2, 3, 1, 1)}, tmp_path / 'bb.pth')
    with pytest.raises(ValueError, match='model.queue_len=N'):
        run_size.resolve_auto_queue_for_eval(_auto_cfg(), str(tmp_path / 'bb.pth'))
    # random initialisation: any length loads, one batch is used
    cfg = _auto_cfg()
    assert 'one batch' in run_size.resolve_auto_queue_for_eval(cfg)
    assert cfg.model.queue_len == 24
    # a number is left alone
    fixed = Config(dict(model=dict(type='MoCo', queue_len=4096)))
    assert run_size.resolve_auto_queue_for_eval(fixed, str(ckpt)) is None
    assert fixed.model.queue_len == 4096
