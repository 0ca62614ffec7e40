"""Process-group set-up that also works on machines without a GPU.

mmengine's launchers call ``torch.cuda.set_device`` and default to NCCL, so
``--launcher pytorch`` fails on a CPU-only machine. :func:`init_dist_for_launcher`
initialises the process group itself with the backend that fits the machine
(NCCL with CUDA, gloo without) before the Runner is built; the Runner then sees
an initialised group and leaves it alone.
"""

import atexit
import datetime
import logging
import os
import subprocess
import sys
from typing import Optional

import torch
import torch.distributed as dist


def default_backend() -> str:
    """NCCL when CUDA is usable, gloo otherwise."""
    return 'nccl' if torch.cuda.is_available() else 'gloo'


def _slurm_env(port: Optional[int]) -> None:
    """Translate SLURM variables into torch.distributed's ``env://`` variables."""
    proc_id = int(os.environ['SLURM_PROCID'])
    ntasks = int(os.environ['SLURM_NTASKS'])
    node_list = os.environ['SLURM_NODELIST']
    num_gpus = torch.cuda.device_count()
    if 'MASTER_ADDR' not in os.environ:
        addr = subprocess.getoutput(f'scontrol show hostname {node_list} | head -n1')
        os.environ['MASTER_ADDR'] = addr
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    os.environ.setdefault('MASTER_PORT', '29500')
    os.environ['WORLD_SIZE'] = str(ntasks)
    os.environ['RANK'] = str(proc_id)
    os.environ['LOCAL_RANK'] = str(
        proc_id % num_gpus if num_gpus else int(os.environ.get('SLURM_LOCALID', 0))
    )


def _mpi_env() -> None:
    os.environ['RANK'] = os.environ['OMPI_COMM_WORLD_RANK']
    os.environ['WORLD_SIZE'] = os.environ['OMPI_COMM_WORLD_SIZE']
    os.environ['LOCAL_RANK'] = os.environ['OMPI_COMM_WORLD_LOCAL_RANK']
    os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
    os.environ.setdefault('MASTER_PORT', '29500')


def init_dist_for_launcher(
    launcher: str,
    backend: Optional[str] = None,
    port: Optional[int] = None,
    timeout: Optional[float] = None,
) -> str:
    """Initialise the default process group for ``launcher``.

    Args:
        launcher: ``'pytorch'`` (torchrun), ``'slurm'`` or ``'mpi'``.
        backend: Backend name; by default NCCL with CUDA and gloo without.
        port: Master port override (slurm only).
        timeout: Seconds a collective (and the rendezvous) may wait for the other
            ranks before it fails (``env_cfg.dist_cfg.timeout``, same unit as
            mmengine's ``init_dist``); None keeps torch's default (30 min for gloo,
            10 min for NCCL).

    Returns:
        The backend that was used.
    """
    if launcher == 'none':
        raise ValueError('init_dist_for_launcher called with launcher="none"')
    if dist.is_available() and dist.is_initialized():
        return dist.get_backend()
    if launcher == 'slurm':
        _slurm_env(port)
    elif launcher == 'mpi':
        _mpi_env()
    elif launcher != 'pytorch':
        raise ValueError(f'Unknown launcher {launcher!r}; use one of none, pytorch, slurm, mpi.')
    missing = [
        k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT') if k not in os.environ
    ]
    if missing:
        raise RuntimeError(
            f'--launcher {launcher} needs the environment variables {missing}. Start the job '
            'with tools/dist_train.sh (torchrun) or tools/slurm_train.sh instead of plain python.'
        )
    backend = backend or default_backend()
    if backend == 'nccl':
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)) % torch.cuda.device_count())
    if timeout is not None and not float(timeout) > 0:
        raise ValueError(
            f'env_cfg.dist_cfg.timeout must be a positive number of seconds, got {timeout!r}.'
        )
    dist.init_process_group(
        backend=backend,
        timeout=None if timeout is None else datetime.timedelta(seconds=float(timeout)),
    )
    return backend


def exit_after_distributed_run(code: int = 0) -> None:
    """End a process of a finished multi-process run without the interpreter's teardown.

    With torch 2.14 and gloo, a process that leaves an initialised process group to the
    interpreter's shutdown aborts there now and then: ``terminate called without an active
    exception``, SIGABRT, no Python frame, after the work is done and saved; torchrun then
    fails the whole job. Measured on 2 CPU cores with a two-rank DDP script of three steps
    (``tools/analysis_tools/dist_exit_abort.py``): 13 of 60 runs aborted; 6 of 40 with
    ``dist.barrier()`` and ``dist.destroy_process_group()`` before exit; none of 40 ending
    with this function.

    So, once the run has finished: flush the standard streams, run the Python exit
    handlers (``atexit``: logging's flush among them), and leave with ``os._exit(code)``,
    which skips the native destructors. Without an initialised process group (a
    one-process run) it returns and the interpreter exits normally.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    _flush_std_streams()
    atexit._run_exitfuncs()  # CPython's runner of the registered exit handlers
    logging.shutdown()
    _flush_std_streams()
    os._exit(code)


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):  # closed or replaced streams
            pass
