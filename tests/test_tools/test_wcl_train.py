"""WCL through tools/train.py on the embedded digits: the augmentation switch at epoch 1,
then --resume after the switch reproduces an uninterrupted run exactly."""

import subprocess
import sys

import torch

from csml_mm.utils import safe_torch_load

CFG = 'tests/data/configs/wcl_tiny_digits.py'  # MoCo v2 views in epoch 0, SimCLR from epoch 1


def _train(repo_root, env, work_dir, *extra):
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', CFG, '--work-dir', str(work_dir), *extra],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_wcl_train_crosses_the_switch_and_resumes_after_it(repo_root, subprocess_env, tmp_path):
    a, b = tmp_path / 'resumed', tmp_path / 'straight'
    out = _train(repo_root, subprocess_env, a)  # epochs 1-2 (0-based 0 and 1)
    assert 'PipelineSwitchHook: epoch 0 uses training pipeline stage 0' in out
    assert 'PipelineSwitchHook: epoch 1 uses training pipeline stage 1' in out
    assert 'loss_graph' in out and 'graph_mean_size' in out
    # resume at epoch 2: the SimCLR stage is selected before the first resumed batch
    out = _train(
        repo_root, subprocess_env, a, '--resume', '--cfg-options', 'train_cfg.max_epochs=3'
    )
    assert 'resumed epoch: 2, iter: 8' in out, out[-3000:]
    assert 'PipelineSwitchHook: epoch 2 uses training pipeline stage 1' in out
    assert 'stage 0' not in out
    _train(repo_root, subprocess_env, b, '--cfg-options', 'train_cfg.max_epochs=3')
    ra = safe_torch_load(a / 'epoch_3.pth', map_location='cpu')
    rb = safe_torch_load(b / 'epoch_3.pth', map_location='cpu')
    assert ra['meta']['iter'] == rb['meta']['iter'] == 12
    for key, val in rb['state_dict'].items():
        assert torch.equal(ra['state_dict'][key], val), f'{key} differs after resume'
    # LARS groups: bn/bias parameters carry lars_exclude through the checkpoint
    groups = ra['optimizer']['param_groups']
    assert any(g.get('lars_exclude') for g in groups)
    assert any(not g.get('lars_exclude', False) and g['weight_decay'] > 0 for g in groups)
