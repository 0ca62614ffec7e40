"""tools/train.py end to end: train 2 epochs, --resume to 3, compare with an
uninterrupted 3-epoch run (every piece of state must be restored)."""

import os.path as osp
import subprocess
import sys

import torch

from csml_mm.utils import safe_torch_load

CFG = 'tests/data/configs/mocov2_tiny_digits.py'


def _train(repo_root, env, work_dir, *extra):
    cmd = [sys.executable, 'tools/train.py', CFG, '--work-dir', str(work_dir), *extra]
    proc = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_train_then_resume_matches_uninterrupted(repo_root, subprocess_env, tmp_path):
    a, b = tmp_path / 'resumed', tmp_path / 'straight'
    _train(repo_root, subprocess_env, a)  # epochs 1-2
    assert osp.isfile(a / 'epoch_2.pth') and not osp.exists(a / 'epoch_3.pth')
    out = _train(
        repo_root, subprocess_env, a, '--resume', '--cfg-options', 'train_cfg.max_epochs=3'
    )
    assert 'resumed epoch: 2, iter: 8' in out, out[-3000:]  # 64 images / batch 16 x 2
    _train(repo_root, subprocess_env, b, '--cfg-options', 'train_cfg.max_epochs=3')

    ra = safe_torch_load(a / 'epoch_3.pth', map_location='cpu')
    rb = safe_torch_load(b / 'epoch_3.pth', map_location='cpu')
    assert ra['meta']['epoch'] == rb['meta']['epoch'] == 3
    assert ra['meta']['iter'] == rb['meta']['iter'] == 12  # 64 images / batch 16 * 3 epochs
    # Weights, EMA encoder, queue and queue pointer of the resumed run equal the
    # uninterrupted run: model, optimizer, schedule and random streams were restored.
    for key, val in rb['state_dict'].items():
        assert torch.equal(ra['state_dict'][key], val), f'{key} differs after resume'
    assert int(ra['state_dict']['queue_ptr']) == int(rb['state_dict']['queue_ptr'])
    lr_a = ra['optimizer']['param_groups'][0]['lr']
    lr_b = rb['optimizer']['param_groups'][0]['lr']
    assert lr_a == lr_b
    # No temporary files from the atomic writes are left behind.
    assert not list(a.glob('.*.tmp'))


def test_resume_explicit_path_and_missing_file(repo_root, subprocess_env, tmp_path):
    missing = tmp_path / 'nope.pth'
    proc = subprocess.run(
        [
            sys.executable,
            'tools/train.py',
            CFG,
            '--work-dir',
            str(tmp_path / 'w'),
            '--resume',
            str(missing),
        ],
        cwd=repo_root,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert 'no such checkpoint file' in proc.stderr


def test_config_typo_is_reported(repo_root, subprocess_env, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            'tools/train.py',
            CFG,
            '--work-dir',
            str(tmp_path / 'w'),
            '--cfg-options',
            'train_dataloder.batch_size=4',
        ],
        cwd=repo_root,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "did you mean 'train_dataloader'" in proc.stderr
