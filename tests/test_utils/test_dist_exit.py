"""exit_after_distributed_run: leave a finished multi-process run without the native teardown."""

import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import atexit, logging, logging.handlers, pathlib, sys
import torch.distributed as dist
from csml_mm.utils import exit_after_distributed_run

out = pathlib.Path(sys.argv[1])
exit_after_distributed_run(5)  # no process group yet: returns, nothing happens
sys.stdout.write('before the group\n')
dist.init_process_group('gloo', store=dist.FileStore(str(out / 'store'), 1), rank=0,
                        world_size=1)
atexit.register(lambda: (out / 'atexit').write_text('ran'))
# a buffering handler: its record reaches the file only when logging is shut down
target = logging.FileHandler(str(out / 'run.log'))
logger = logging.getLogger('csml')
logger.setLevel(logging.INFO)
logger.addHandler(logging.handlers.MemoryHandler(1000, flushLevel=logging.CRITICAL,
                                                 target=target))
logger.info('the last log line')
assert (out / 'run.log').read_text() == ''
sys.stdout.write('buffered output')  # a pipe: block-buffered until flushed
exit_after_distributed_run(3)
(out / 'after').write_text('not reached')
"""


@pytest.mark.slow
def test_exit_after_distributed_run_flushes_runs_exit_handlers_and_exits(tmp_path, repo_root):
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONUNBUFFERED'}
    proc = subprocess.run(
        [sys.executable, '-c', SCRIPT, str(tmp_path)],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr[-2000:]
    # the first call returned (no process group), the second flushed stdout before leaving
    assert proc.stdout == 'before the group\nbuffered output'
    assert (tmp_path / 'atexit').read_text() == 'ran'
    assert 'the last log line' in (tmp_path / 'run.log').read_text()
    assert not (tmp_path / 'after').exists()


def test_exit_after_distributed_run_returns_without_a_process_group():
    import torch.distributed as dist

    from csml_mm.utils import exit_after_distributed_run

    assert not dist.is_initialized()
    assert exit_after_distributed_run(7) is None  # still running: no exit happened
