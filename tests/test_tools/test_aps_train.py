"""APS through tools/train.py on the embedded digits: rounds as optimiser steps, exact
resume, and 2-process DDP (gloo) with MultiStepDistributedDataParallel."""

import socket
import subprocess
import sys

import torch

from csml_mm.utils import safe_torch_load

BASE = 'configs/aps/aps_vit-d4w64-p4_1xb64-coslr-12e_digits.py'


def _tiny_cfg(repo_root, tmp_path) -> str:
    """A seconds-long variant of the digits config: 32 images, batch 16, 4 rounds."""
    cfg = tmp_path / 'aps_tiny_digits.py'
    cfg.write_text(f"""
_base_ = ['{repo_root}/{BASE}']
model = dict(
    backbone=dict(arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)),
    neck=dict(in_channels=32, hid_channels=32, out_channels=16),
    predictor=dict(in_channels=16, hid_channels=32, out_channels=16))
train_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False,
                        dataset=dict(indices=32))
train_cfg = dict(max_epochs=2)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=3, by_epoch=True, begin=0, end=3)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=5))
custom_hooks = []
randomness = dict(seed=1, deterministic=False)
""")
    return str(cfg)


def _train(repo_root, env, cfg, work_dir, *extra):
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', cfg, '--work-dir', str(work_dir), *extra],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _adamw_steps(ckpt) -> set:
    return {int(s['step']) for s in ckpt['optimizer']['state'].values()}


def test_aps_digits_train_and_resume(repo_root, subprocess_env, tmp_path):
    cfg = _tiny_cfg(repo_root, tmp_path)
    a, b = tmp_path / 'resumed', tmp_path / 'straight'
    out = _train(repo_root, subprocess_env, cfg, a, '--cfg-options', 'train_cfg.max_epochs=1')
    assert 'loss:' in out and 'pos_sim:' in out
    ck1 = safe_torch_load(a / 'epoch_1.pth', map_location='cpu')
    assert ck1['meta']['iter'] == 2  # 32 images / batch 16
    assert _adamw_steps(ck1) == {8}  # 2 iterations x 4 sampling rounds
    out = _train(repo_root, subprocess_env, cfg, a, '--resume')
    assert 'resumed epoch: 1, iter: 2' in out, out[-3000:]
    _train(repo_root, subprocess_env, cfg, b)
    ra = safe_torch_load(a / 'epoch_2.pth', map_location='cpu')
    rb = safe_torch_load(b / 'epoch_2.pth', map_location='cpu')
    assert _adamw_steps(ra) == _adamw_steps(rb) == {16}
    for key, val in rb['state_dict'].items():
        assert torch.equal(ra['state_dict'][key], val), f'{key} differs after resume'
    assert not torch.equal(
        ck1['state_dict']['backbone.cls_token'], rb['state_dict']['backbone.cls_token']
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_aps_two_cpu_processes(repo_root, subprocess_env, tmp_path):
    cfg = _tiny_cfg(repo_root, tmp_path)
    env = dict(
        subprocess_env, PYTHON=sys.executable, PORT=str(_free_port()), CUDA_VISIBLE_DEVICES=''
    )
    work = tmp_path / 'dist'
    proc = subprocess.run(
        [
            'bash',
            'tools/dist_train.sh',
            cfg,
            '2',
            '--work-dir',
            str(work),
            '--cfg-options',
            'train_cfg.max_epochs=1',
        ],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert 'Distributed training: True' in out
    ckpt = safe_torch_load(work / 'epoch_1.pth', map_location='cpu')
    assert ckpt['meta']['iter'] == 1  # 32 images over 2 ranks, batch 16 each
    # The wrapper handed the step to APS.train_step: 4 optimiser steps for one batch.
    assert _adamw_steps(ckpt) == {4}
