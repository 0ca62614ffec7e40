"""A rank that stops answering (SIGSTOP: sockets stay open) during 2-process gloo training.

Without a timeout setting the other rank would wait silently for torch's default
(30 min for gloo). With ``env_cfg.dist_cfg.timeout=20`` rank 0 must fail within
the timeout + slack with an error that names the collective, the ranks, the
timeout and the setting. The two ranks are started the way torchrun starts them
(``RANK``/``WORLD_SIZE``/``MASTER_*`` + ``tools/train.py --launcher pytorch``), so
that each process can be watched and signalled on its own.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import List

import pytest

pytestmark = pytest.mark.slow  # every test here trains or spawns processes

CFG = 'tests/data/configs/mocov2_tiny_digits.py'
TIMEOUT_S = 20
SLACK_S = 25  # error path: heartbeat check (~5 s) + interpreter exit, on a loaded 2-core box
STARTED = re.compile(r'Epoch\(train\)\s*\[1\]\s*\[\s*1/')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _reader(stream, lines: List[str]) -> None:
    for line in iter(stream.readline, ''):
        lines.append(line)


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the process group that this test started (works on stopped processes)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


@pytest.mark.skipif(not hasattr(signal, 'SIGSTOP'), reason='needs POSIX signals')
def test_stopped_rank_fails_the_job_within_the_timeout(repo_root, subprocess_env, tmp_path):
    port = _free_port()
    procs: List[subprocess.Popen] = []
    lines: List[str] = []
    try:
        for rank in (0, 1):
            env = dict(
                subprocess_env,
                MASTER_ADDR='127.0.0.1',
                MASTER_PORT=str(port),
                WORLD_SIZE='2',
                RANK=str(rank),
                LOCAL_RANK=str(rank),
                CUDA_VISIBLE_DEVICES='',
            )
            cmd = [
                sys.executable,
                'tools/train.py',
                CFG,
                '--launcher',
                'pytorch',
                '--work-dir',
                str(tmp_path / 'work'),
                '--cfg-options',
                f'env_cfg.dist_cfg.timeout={TIMEOUT_S}',
                'train_cfg.max_epochs=200',
                'model.queue_len=128',
                'default_hooks.checkpoint.interval=1000',
            ]
            procs.append(
                subprocess.Popen(
                    cmd,
                    cwd=repo_root,
                    env=env,
                    text=True,
                    start_new_session=True,
                    stdout=subprocess.PIPE if rank == 0 else subprocess.DEVNULL,
                    stderr=subprocess.STDOUT if rank == 0 else subprocess.DEVNULL,
                )
            )
        rank0, rank1 = procs
        threading.Thread(target=_reader, args=(rank0.stdout, lines), daemon=True).start()
        deadline = time.monotonic() + 120
        while not any(STARTED.search(line) for line in lines):
            assert rank0.poll() is None, 'rank 0 ended before training:\n' + ''.join(lines)[-3000:]
            assert time.monotonic() < deadline, 'training did not start:\n' + ''.join(lines)[-3000:]
            time.sleep(0.2)
        assert rank1.poll() is None, 'rank 1 ended before it could be stopped'

        os.kill(rank1.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            rc = rank0.wait(timeout=TIMEOUT_S + SLACK_S)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f'rank 0 still waits {TIMEOUT_S + SLACK_S} s after rank 1 stopped '
                f'(timeout {TIMEOUT_S} s):\n' + ''.join(lines)[-3000:]
            )
        elapsed = time.monotonic() - stopped_at
        time.sleep(0.5)  # let the reader thread drain the pipe
        out = ''.join(lines)
        assert rc != 0, out[-3000:]
        # It failed because of the timeout, not at once for some other reason.
        assert elapsed >= TIMEOUT_S - 5, (elapsed, out[-3000:])
        # CollectiveTimeoutError's message (a traceback, or one `error: ...` line)
        assert 'rank 0 of 2 (world size 2' in out, out[-3000:]
        msg = out[out.rindex('rank 0 of 2 (world size 2') :]
        print(f'rank 0 exited {elapsed:.1f} s after SIGSTOP of rank 1:\n{msg}')
        assert f'did not complete within {TIMEOUT_S} s' in msg, msg
        # the collective: a named torch.distributed op with its caller, one of DDP's own
        # (bucket rebuild, buffer broadcast) with its caller, or DDP's gradient all-reduce;
        # which one rank 0 is in when rank 1 stops is up to timing
        assert re.search(
            r'the collective `\w+` called from \S+:\d+|gradient all-reduce|'
            r"DistributedDataParallel's [^\n]* called from \S+:\d+",
            msg,
        ), msg
        assert 'not identifiable' not in msg, msg
        assert 'No heartbeat from rank(s) [1]' in msg, msg
        assert 'env_cfg.dist_cfg.timeout' in msg and '--cfg-options' in msg, msg
    finally:
        for proc in procs:
            _kill(proc)


def _mismatch_worker(rank: int, port: int, out_dir: str) -> None:
    """Rank 0 calls all_gather, rank 1 never does but stays alive (heartbeats go on)."""
    import datetime
    import pathlib

    import torch
    import torch.distributed as dist

    from csml_mm.utils.dist_timeout import explain_collective_timeout

    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2, timeout=datetime.timedelta(seconds=3))
    done = pathlib.Path(out_dir, 'done')
    if rank == 0:
        try:
            with explain_collective_timeout(3, heartbeat_interval=0.5):
                dist.all_gather([torch.zeros(1), torch.zeros(1)], torch.ones(1))
        except RuntimeError as err:
            pathlib.Path(out_dir, 'msg').write_text(f'{type(err).__name__}: {err}')
        done.touch()
    else:
        with explain_collective_timeout(3, heartbeat_interval=0.5):  # heartbeats go on
            deadline = time.monotonic() + 60
            while not done.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
    # leaving the context ends the heartbeat thread: one left inside a store call at exit
    # aborts the process ('terminate called without an active exception')
    import threading

    alive = [t.name for t in threading.enumerate() if t.name == 'csml-heartbeat']
    pathlib.Path(out_dir, f'threads{rank}').write_text(','.join(alive))


def _ddp_worker(rank: int, port: int, out_dir: str, where: str) -> None:
    """Rank 0 reaches one of DistributedDataParallel's own collectives, rank 1 never does.

    ``where='init'``: rank 0 wraps a module in DDP (its constructor first checks the
    parameter shapes across ranks); ``'forward'``: both wrap, then rank 0 runs a forward
    (DDP broadcasts the BN buffers first); ``'rebuild'``: both run one training step, then
    rank 0 a forward (DDP rebuilds its gradient buckets). All run in C++, so no frame
    names a collective.
    """
    import datetime
    import pathlib

    import torch
    import torch.distributed as dist

    from csml_mm.utils.dist_timeout import explain_collective_timeout

    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2, timeout=datetime.timedelta(seconds=3))
    done = pathlib.Path(out_dir, 'done')

    def wrap():
        module = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
        return torch.nn.parallel.DistributedDataParallel(module)

    model = None if where == 'init' else wrap()
    if where == 'rebuild':  # one step together; DDP rebuilds its buckets at the next forward
        model(torch.randn(4, 2)).sum().backward()
    if rank == 0:
        try:
            with explain_collective_timeout(3, heartbeat_interval=0.5):
                if where == 'init':
                    wrap()
                else:
                    model(torch.randn(4, 2))
        except RuntimeError as err:
            pathlib.Path(out_dir, 'msg').write_text(f'{type(err).__name__}: {err}')
        done.touch()
    else:
        deadline = time.monotonic() + 60
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.1)


@pytest.mark.parametrize(
    'where,expected',
    [
        (
            'forward',
            "DistributedDataParallel's buffer broadcast before forward "
            '(broadcast_buffers=True) called from ',
        ),
        (
            'init',
            "DistributedDataParallel's check of parameter shapes across ranks "
            '(in its constructor) called from ',
        ),
        (
            'rebuild',
            "DistributedDataParallel's gradient-bucket rebuild before its second forward "
            '(rank 0 broadcasts the bucket order) called from ',
        ),
    ],
)
def test_ddp_broadcasts_are_named(tmp_path, where, expected):
    """DDP's broadcasts (the CI failure of a stopped rank during a forward: gloo's bare
    'Timed out waiting ... for send operation') are named with their caller."""
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(_free_port(), str(tmp_path), where), nprocs=2, join=True)
    msg = (tmp_path / 'msg').read_text()
    assert msg.startswith('CollectiveTimeoutError: rank 0 of 2'), msg
    assert expected in msg, msg
    assert 'test_dist_timeout.py' in msg and ('(_ddp_worker)' in msg or '(wrap)' in msg), msg
    assert 'not identifiable' not in msg, msg


def test_alive_rank_in_another_step_is_reported_as_alive(tmp_path):
    """A collective only one rank reaches: the error names `all_gather`, its caller and
    says that rank 1 is alive (its heartbeat goes on)."""
    import torch.multiprocessing as mp

    mp.spawn(_mismatch_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    msg = (tmp_path / 'msg').read_text()
    assert msg.startswith('CollectiveTimeoutError: rank 0 of 2'), msg
    assert 'the collective `all_gather` called from ' in msg, msg
    assert 'test_dist_timeout.py' in msg and '(_mismatch_worker)' in msg, msg
    assert 'within 3 s' in msg, msg
    assert 'All other ranks [1] are alive' in msg and 'No heartbeat' not in msg, msg
    assert (tmp_path / 'threads0').read_text() == (tmp_path / 'threads1').read_text() == ''


def test_timeout_setting_from_config(repo_root):
    from mmengine.config import Config

    from csml_mm.utils.dist_timeout import DEFAULT_DIST_TIMEOUT_S, dist_timeout_from_cfg

    runtime = Config.fromfile(os.path.join(repo_root, 'configs/_base_/default_runtime.py'))
    assert runtime.env_cfg.dist_cfg.timeout == 600
    assert dist_timeout_from_cfg(runtime) == 600.0
    assert dist_timeout_from_cfg(Config(dict(env_cfg=dict(dist_cfg=dict(timeout=20))))) == 20.0
    assert dist_timeout_from_cfg(Config(dict())) == DEFAULT_DIST_TIMEOUT_S
    for bad in (0, -5, 'soon'):
        with pytest.raises(ValueError, match='env_cfg.dist_cfg.timeout'):
            dist_timeout_from_cfg(Config(dict(env_cfg=dict(dist_cfg=dict(timeout=bad)))))


def test_only_distributed_timeouts_are_explained():
    from csml_mm.utils.dist_timeout import describe_collective, is_timeout_error

    gloo = RuntimeError(
        '[../third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:78] Timed out '
        'waiting 20000ms for recv operation to complete'
    )
    nccl = RuntimeError(
        '[Rank 0] Watchdog caught collective operation timeout: WorkNCCL('
        'SeqNum=7, OpType=ALLGATHER, NumelIn=8, Timeout(ms)=20000) ran for '
        '20001 milliseconds before timing out.'
    )
    assert is_timeout_error(gloo) and is_timeout_error(nccl)
    assert not is_timeout_error(RuntimeError('DataLoader timed out after 5 seconds'))
    assert not is_timeout_error(RuntimeError('CUDA out of memory'))
    assert describe_collective(nccl) == 'the NCCL collective ALLGATHER'
    assert describe_collective(gloo) == 'a collective (not identifiable from the traceback)'
