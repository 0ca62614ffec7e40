"""Shared pieces of the crash/resume tests: configs with the kill switch, runs, comparisons."""

import os
import os.path as osp
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config

from csml_mm.utils import safe_torch_load

HERE = osp.dirname(osp.abspath(__file__))
EPOCHS = 3
ITERS_PER_EPOCH = 4  # 64 images / batch 16 in every tiny config
# Killed after batch 2 of epoch 2 (1-based): mid-epoch, after epoch_1.pth was written.
KILL_AFTER_ITER = ITERS_PER_EPOCH + 2

# algorithm -> its tiny config under tests/data/configs
ALGORITHMS: Dict[str, str] = {
    'mocov2': 'mocov2_tiny_digits.py',
    'csml': 'csml_tiny_digits.py',
    'csml_multilevel': 'csml_multilevel_tiny_digits.py',
    'hsa': 'hsa_tiny_digits.py',
    'wcl': 'wcl_tiny_digits.py',
    'wcl_mcrop': 'wcl_mcrop_tiny_digits.py',
    'aps': 'aps_tiny_digits.py',
    'aps_ema': 'aps_ema_tiny_digits.py',
}


def write_config(
    repo_root: str, algorithm: str, out: Path, without: Sequence[str] = (), **overrides: Any
) -> str:
    """The algorithm's tiny config for EPOCHS epochs, with the test-only KillSwitchHook,
    ``overrides`` merged (``'a.b': value``) and the default hooks named in ``without``
    removed."""
    cfg = Config.fromfile(osp.join(repo_root, 'tests', 'data', 'configs', ALGORITHMS[algorithm]))
    cfg.custom_imports = dict(imports=['csml_mm', 'crash_hooks'], allow_failed_imports=False)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(type='KillSwitchHook')]
    cfg.train_cfg.max_epochs = EPOCHS
    cfg.merge_from_dict(overrides)
    for name in without:
        cfg.default_hooks.pop(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    cfg.dump(str(out))
    return str(out)


def child_env(repo_root: str, **extra: str) -> Dict[str, str]:
    """Environment of a training child: the checkout and crash_hooks importable, no kill
    switch unless asked for."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('CSML_TEST_KILL')}
    env['PYTHONPATH'] = os.pathsep.join([repo_root, HERE, env.get('PYTHONPATH', '')])
    env.setdefault('OMP_NUM_THREADS', '1')
    env['PYTHONUNBUFFERED'] = '1'
    env.update(extra)
    return env


def train(
    repo_root: str,
    cfg: str,
    work_dir: Path,
    *extra: str,
    env: Optional[Dict[str, str]] = None,
    expect_kill: bool = False,
) -> str:
    """Run tools/train.py; return its output. ``expect_kill``: it must die of SIGKILL."""
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', cfg, '--work-dir', str(work_dir), *extra],
        cwd=repo_root,
        env=env or child_env(repo_root),
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    if expect_kill:
        assert proc.returncode == -signal.SIGKILL, (
            f'expected the run to die of SIGKILL, got exit code {proc.returncode}:\n' + out[-3000:]
        )
    else:
        assert proc.returncode == 0, f'exit code {proc.returncode}:\n' + out[-4000:]
    return out


def load(path: Path) -> dict:
    return safe_torch_load(str(path), map_location='cpu')


def nested_differences(a: Any, b: Any, where: str = '') -> List[str]:
    """Every place where the nested values ``a`` and ``b`` (tensors, arrays, dicts,
    sequences, scalars, mmengine HistoryBuffers) differ; exact equality."""
    out: List[str] = []
    _diff(a, b, where, out)
    return out


def _diff(a: Any, b: Any, where: str, out: List[str]) -> None:
    """Append to ``out`` every place where the nested values ``a`` and ``b`` differ."""
    if isinstance(b, torch.Tensor):
        if not (
            isinstance(a, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and torch.equal(a, b)
        ):
            out.append(where)
    elif isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and a.shape == b.shape and np.array_equal(a, b)):
            out.append(where)
    elif isinstance(b, dict):
        if not isinstance(a, dict) or set(a) != set(b):
            out.append(
                f'{where} (keys {sorted(map(str, set(a) ^ set(b)))[:5]})'
                if isinstance(a, dict)
                else where
            )
            return
        for key in b:
            _diff(a[key], b[key], f'{where}.{key}', out)
    elif isinstance(b, (list, tuple)):
        if not isinstance(a, (list, tuple)) or len(a) != len(b):
            out.append(where)
            return
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f'{where}[{i}]', out)
    elif type(b).__name__ == 'HistoryBuffer':
        if type(a).__name__ != 'HistoryBuffer':
            out.append(where)
            return
        _diff(a.data, b.data, where, out)
    elif a != b:
        out.append(where)


def state_differences(resumed: dict, reference: dict) -> List[str]:
    """Everything with training state that differs between two checkpoints.

    Weights and buffers (queues, queue pointers, EMA copies and their step counts),
    optimizer state, scheduler state, the random generators, the neighbour table, the
    loss history and the epoch/iteration counters.
    """
    out: List[str] = []
    for key in ('state_dict', 'optimizer', 'param_schedulers', 'rng_state', 'neighbour_table'):
        if key in reference or key in resumed:
            _diff(resumed.get(key), reference.get(key), key, out)
    for key in ('epoch', 'iter', 'seed'):
        _diff(resumed['meta'].get(key), reference['meta'].get(key), f'meta.{key}', out)
    losses = {k: v for k, v in reference['message_hub']['log_scalars'].items() if 'loss' in k}
    _diff(
        {k: resumed['message_hub']['log_scalars'].get(k) for k in losses},
        losses,
        'message_hub.log_scalars',
        out,
    )
    return out
