"""Timing helpers shared by the benchmark scripts (median step time, CUDA peak memory)."""

import time
from typing import Callable, List, Optional, Tuple

import torch
from mmpretrain.structures import DataSample


def sync(device: torch.device) -> None:
    """Wait for queued GPU work so that wall-clock times are real."""
    if device.type == 'cuda':
        torch.cuda.synchronize()


def median_seconds(fn: Callable[[], object], steps: int, warmup: int) -> float:
    """Median wall-clock seconds of ``fn()`` over ``steps`` calls after ``warmup`` untimed ones."""
    times: List[float] = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        fn()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def time_steps(
    model: torch.nn.Module,
    views: List[torch.Tensor],
    steps: int,
    warmup: int,
    device: torch.device,
    amp: bool,
) -> Tuple[float, Optional[float]]:
    """Median seconds of one SGD step of ``model.loss(views)`` and the CUDA peak in MiB.

    The peak is ``None`` off CUDA (CPU peak memory is not measured in-process).
    """
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    samples = [DataSample() for _ in range(views[0].shape[0])]
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(warmup + steps):
        sync(device)
        t0 = time.perf_counter()
        with torch.autocast(device.type, enabled=amp, dtype=torch.bfloat16):
            losses = model.loss(views, samples)
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == 'cuda' else None
    times.sort()
    return times[len(times) // 2], peak


def _hwm_kib() -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM'):
                return int(line.split()[1])
    raise RuntimeError('no VmHWM in /proc/self/status')


def peak_rss_increase_mib(step) -> Tuple[float, str]:
    """Rise of this process's peak resident memory during ``step()`` (MiB), and the method.

    Meant for a fresh child process (``subprocess.run`` of the benchmark itself, never a
    fork after torch has started its thread pool): the peak counter is reset to the
    current RSS through ``/proc/self/clear_refs`` just before the step; where that file
    is not writable, the (monotone) ``ru_maxrss`` is used instead.
    """
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        before = _hwm_kib()
        step()
        return (_hwm_kib() - before) / 1024, 'VmHWM after clear_refs'
    except OSError:
        import resource

        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        step()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return (after - before) / 1024, 'ru_maxrss'
