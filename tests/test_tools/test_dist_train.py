"""tools/dist_train.sh with 2 CPU processes (torchrun + gloo)."""

import json
import socket
import subprocess
import sys

import torch

from csml_mm.utils import safe_torch_load

CFG = 'tests/data/configs/mocov2_tiny_digits.py'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_dist_train_two_cpu_processes(repo_root, subprocess_env, tmp_path):
    env = dict(
        subprocess_env, PYTHON=sys.executable, PORT=str(_free_port()), CUDA_VISIBLE_DEVICES=''
    )
    work = tmp_path / 'dist'
    proc = subprocess.run(
        [
            'bash',
            'tools/dist_train.sh',
            CFG,
            '2',
            '--work-dir',
            str(work),
            '--cfg-options',
            'train_cfg.max_epochs=1',
            'model.queue_len=128',
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
    # 64 images over 2 ranks with batch 16 each: 2 iterations per epoch.
    assert ckpt['meta']['iter'] == 2
    # The queue is filled from keys gathered over both ranks: 2 iters x 2 ranks x 16
    # (keys of the local batch only would give 32).
    assert int(ckpt['state_dict']['queue_ptr']) == 64
    # Both ranks' random generators were stored.
    assert len(ckpt['rng_state']) == 2
    scalars = (next(work.glob('*/vis_data/scalars.json'))).read_text().splitlines()
    assert any('loss' in json.loads(line) for line in scalars)


def test_dist_train_csml_two_cpu_processes(repo_root, subprocess_env, tmp_path):
    """CsMl under 2 gloo processes: shuffle-BN across ranks, gathered keys, and mining
    on a training set that the distributed sampler pads (67 images)."""
    env = dict(
        subprocess_env, PYTHON=sys.executable, PORT=str(_free_port()), CUDA_VISIBLE_DEVICES=''
    )
    work = tmp_path / 'dist_csml'
    proc = subprocess.run(
        [
            'bash',
            'tools/dist_train.sh',
            'tests/data/configs/csml_tiny_digits.py',
            '2',
            '--work-dir',
            str(work),
            '--cfg-options',
            'train_cfg.max_epochs=1',
            'train_dataloader.dataset.dataset.indices=67',
            'mining_dataloader.dataset.indices=67',
            'custom_hooks.0.dataloader.dataset.indices=67',
            'model.queue_len=128',
        ],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert 'mined 5 neighbours for 67 images' in out
    ckpt = safe_torch_load(work / 'epoch_1.pth', map_location='cpu')
    table = ckpt['neighbour_table']
    assert table.shape == (67, 5) and table.min() >= 0 and table.max() < 67
    assert not (table == torch.arange(67).unsqueeze(1)).any()
    # 67 images, 2 ranks, batch 16, drop_last: 2 iterations of 2 x 16 keys each
    assert int(ckpt['state_dict']['queue_ptr']) == 64
    assert ckpt['state_dict']['queue'].shape == (1, 16, 128)
