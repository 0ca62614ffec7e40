"""At most one device-to-host read per optimizer step, counted in real training iterations.

Every algorithm's tiny config trains one epoch (4 iterations) in this process through
mmengine's Runner (hooks, guarded optimizer wrapper and logger included) while
:class:`~csml_mm.utils.host_sync.HostReadCounter` follows the tensors that would live on a
GPU and records every host read of them. With the data-dependent input checks at their GPU
default (``CSML_MM_HOST_CHECKS=0`` models it on a CPU), an iteration may read:

- once per optimizer step: the non-finite guard's step-or-skip decision
  (``csml_mm/engine/optim_guard.py``);
- once when the logger will print: the deferred runtime-info hook reading the iterations'
  logged values in one transfer.

Anything else (an ``.item()`` in a head, a ``bool(tensor)`` check, a Python-side queue pointer
read) fails the test with the file and line of the new read. The first iteration is left out:
optimizer state and lazily built buffers are created there.
"""

import os.path as osp
import sys

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

import csml_mm  # noqa: F401
from csml_mm.utils.host_sync import HostReadCounter

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'test_reliability'))
from reliability_helpers import ALGORITHMS  # noqa: E402

GUARD = 'csml_mm/engine/optim_guard.py'
FLUSH = 'csml_mm/engine/hooks/deferred_runtime_info_hook.py'
LOG_INTERVAL = 2


def _optimizers(runner):
    wrapper = runner.optim_wrapper
    wrappers = list(wrapper.values()) if hasattr(wrapper, 'values') else [wrapper]
    return [w.optimizer for w in wrappers]


@pytest.mark.slow
@pytest.mark.parametrize('algorithm', sorted(ALGORITHMS))
def test_one_host_read_per_optimizer_step(algorithm, repo_root, tmp_path, monkeypatch):
    monkeypatch.setenv('CSML_MM_HOST_CHECKS', '0')
    cfg = Config.fromfile(osp.join(repo_root, 'tests', 'data', 'configs', ALGORITHMS[algorithm]))
    cfg.work_dir = str(tmp_path)
    cfg.train_cfg.max_epochs = 1
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=LOG_INTERVAL)
    cfg.default_hooks.checkpoint = dict(type='SafeCheckpointHook', interval=100)
    cfg.experiment_name = f'host_syncs_{algorithm}'
    runner = Runner.from_cfg(cfg)
    loop = runner.train_loop
    run_iter = loop.run_iter
    per_iter = []

    def counted(idx, data_batch):
        optimizers = _optimizers(runner)
        steps = [0]
        originals = [opt.step for opt in optimizers]

        def counting_step(original):
            def step(*args, **kwargs):
                steps[0] += 1
                return original(*args, **kwargs)

            return step

        for opt, original in zip(optimizers, originals):
            opt.step = counting_step(original)
        try:
            with HostReadCounter(runner.model, *optimizers) as counter:
                run_iter(idx, data_batch)
        finally:
            for opt in optimizers:
                del opt.step  # back to the class's method
        per_iter.append((idx, counter, steps[0]))

    loop.run_iter = counted
    runner.train()
    assert len(per_iter) == 4
    for idx, counter, steps in per_iter[1:]:
        where = f'{algorithm}, iteration {idx + 1}:\n{counter.report()}'
        assert steps >= 1, where
        others = {s: n for s, n in counter.sites.items() if GUARD not in s and FLUSH not in s}
        assert not others, 'unexpected host reads in ' + where
        guard = sum(n for s, n in counter.sites.items() if GUARD in s)
        flush = sum(n for s, n in counter.sites.items() if FLUSH in s)
        assert guard == steps, where
        assert flush == (1 if (idx + 1) % LOG_INTERVAL == 0 else 0), where


def test_the_counter_sees_reads_of_device_tensors_only():
    """Reads of the model's tensors and of what is computed from them count, with their
    line; host-made tensors (labels, Python numbers) do not."""
    import torch

    lin = torch.nn.Linear(3, 2)
    host = torch.tensor([1, 2, 3])
    with HostReadCounter(lin) as counter:
        y = lin(torch.ones(1, 3))
        int(host[0])  # host tensor: free on a GPU
        if (y > 0).any():  # a branch on a device value: one read
            pass
        y.sum().item()
        placed = torch.zeros(2, device='cpu')  # made with a device: counts as device
        placed.tolist()
    assert counter.count == 3, counter.report()
    assert all('test_host_syncs.py' in site for site in counter.sites)
