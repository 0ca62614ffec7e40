"""Count how often a finished two-process gloo run aborts at interpreter exit.

Each launch is ``torchrun --nproc_per_node 2`` of a tiny DDP job (three steps of a linear
layer and an ``all_reduce``) that ends in one of these ways:

- ``return``: leaves the process group to the interpreter's shutdown;
- ``destroy``: ``dist.barrier()`` and ``dist.destroy_process_group()`` first;
- ``helper``: ``csml_mm.utils.exit_after_distributed_run(0)``, what tools/train.py does.

A launch fails when a rank dies at exit (``terminate called without an active exception``,
SIGABRT). The numbers in docs/distributed.md come from this job. Usage::

    python tools/analysis_tools/dist_exit_abort.py --modes return destroy helper --launches 40
"""

import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

JOB = r"""
import sys
import torch
import torch.distributed as dist
from csml_mm.utils import exit_after_distributed_run, init_dist_for_launcher

init_dist_for_launcher('pytorch', timeout=600)
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 4))
for _ in range(3):
    model(torch.randn(8, 4)).sum().backward()
    dist.all_reduce(torch.ones(3))
mode = sys.argv[1]
if mode == 'destroy':
    dist.barrier()
    dist.destroy_process_group()
elif mode == 'helper':
    exit_after_distributed_run(0)
"""


def launch(job: str, mode: str, port: int) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''),
    )
    cmd = [
        sys.executable,
        '-m',
        'torch.distributed.run',
        '--nproc_per_node=2',
        f'--master_port={port}',
        job,
        mode,
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--modes', nargs='+', default=['return', 'helper'], choices=['return', 'destroy', 'helper']
    )
    parser.add_argument('--launches', type=int, default=20, help='launches per mode')
    parser.add_argument('--port', type=int, default=34500, help='first master port')
    args = parser.parse_args(argv)
    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        job = os.path.join(tmp, 'job.py')
        with open(job, 'w') as f:
            f.write(JOB)
        port = args.port
        for mode in args.modes:
            failed = 0
            for _ in range(args.launches):
                proc = launch(job, mode, port)
                port += 1
                if proc.returncode != 0:
                    failed += 1
                    if 'terminate called' not in proc.stderr:  # another failure: show it
                        print(proc.stderr[-2000:], file=sys.stderr)
            counts[mode] = failed
            print(f'{mode}: {failed} of {args.launches} launches failed', flush=True)
    return counts


if __name__ == '__main__':
    main()
