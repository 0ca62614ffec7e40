"""CsMl through tools/train.py: mining, the neighbour table in checkpoints, exact resume
between two mining steps."""

import subprocess
import sys

import torch

from csml_mm.utils import safe_torch_load

CFG = 'tests/data/configs/csml_tiny_digits.py'  # mines at the start of epochs 1, 3, ...
MINED = 'NeighbourMiningHook: mined 5 neighbours for 64 images'


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


def test_csml_train_mine_and_resume_between_mining_steps(repo_root, subprocess_env, tmp_path):
    a, b = tmp_path / 'resumed', tmp_path / 'straight'
    out = _train(repo_root, subprocess_env, a, '--cfg-options', 'train_cfg.max_epochs=1')
    assert out.count(MINED) == 1
    ck = safe_torch_load(a / 'epoch_1.pth', map_location='cpu')
    table = ck['neighbour_table']
    assert table.shape == (64, 5)
    assert not (table == torch.arange(64).unsqueeze(1)).any()
    # Resume at epoch 2, between the mining steps of epochs 1 and 3: the table comes from
    # the checkpoint (no mining at resume), the next mining happens at epoch 3.
    out = _train(
        repo_root, subprocess_env, a, '--resume', '--cfg-options', 'train_cfg.max_epochs=3'
    )
    assert out.count(MINED) == 1
    out = _train(repo_root, subprocess_env, b, '--cfg-options', 'train_cfg.max_epochs=3')
    assert out.count(MINED) == 2
    ra2 = safe_torch_load(a / 'epoch_2.pth', map_location='cpu')
    assert torch.equal(ra2['neighbour_table'], table)  # epoch 2 trained with the restored table
    ra = safe_torch_load(a / 'epoch_3.pth', map_location='cpu')
    rb = safe_torch_load(b / 'epoch_3.pth', map_location='cpu')
    assert torch.equal(ra['neighbour_table'], rb['neighbour_table'])
    assert not torch.equal(rb['neighbour_table'], table)  # re-mined with a trained encoder
    for key, val in rb['state_dict'].items():
        assert torch.equal(ra['state_dict'][key], val), f'{key} differs after resume'
