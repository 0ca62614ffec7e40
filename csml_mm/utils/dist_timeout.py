"""Name the collective and the silent ranks when a distributed collective times out.

A rank that stops without closing its sockets (a stopped or swapped-out process, a
hung node) makes the others wait in their next collective until the process-group
timeout (``env_cfg.dist_cfg.timeout``) expires; gloo then raises something like
``Timed out waiting 20000ms for recv operation to complete``, which names neither
the operation, nor the rank that went silent, nor the setting.

:func:`explain_collective_timeout` wraps training: every rank publishes a
heartbeat counter in the rendezvous store (:class:`RankHeartbeat`), and a timeout
error is re-raised as :class:`CollectiveTimeoutError` with the collective (from the
traceback, or NCCL's ``OpType``), the caller, this rank, the world size, the ranks
whose heartbeat has stopped, the timeout and how to change it.
"""

import datetime
import re
import threading
import time
import traceback
from contextlib import contextmanager
from typing import Iterator, List, Optional, Tuple

import torch.distributed as dist

#: ``env_cfg.dist_cfg.timeout`` when a config does not set it (seconds).
DEFAULT_DIST_TIMEOUT_S = 600.0
SETTING = 'env_cfg.dist_cfg.timeout'
_KEY = 'csml_mm/heartbeat/{}'

_COLLECTIVES = frozenset(
    {
        'all_reduce',
        'all_gather',
        'all_gather_object',
        'all_gather_into_tensor',
        'broadcast',
        'broadcast_object_list',
        'barrier',
        'monitored_barrier',
        'reduce',
        'reduce_scatter',
        'reduce_scatter_tensor',
        'gather',
        'gather_object',
        'scatter',
        'scatter_object_list',
        'all_to_all',
        'all_to_all_single',
        'send',
        'recv',
        'isend',
        'irecv',
        'batch_isend_irecv',
    }
)
# gloo: 'Timed out waiting 20000ms for recv operation to complete';
# NCCL watchdog: 'Watchdog caught collective operation timeout: WorkNCCL(... OpType=ALLREDUCE'
_TIMEOUT_RE = re.compile(r'timed out|timeout|time out', re.IGNORECASE)
# ... from the distributed stack, not e.g. a DataLoader's 'timed out after 5 seconds'
_DIST_RE = re.compile(r'gloo|nccl|c10d|processgroup|watchdog|store', re.IGNORECASE)
_NCCL_OP_RE = re.compile(r'OpType=(\w+)')
# DistributedDataParallel's helpers (torch/nn/parallel/distributed.py, torch/distributed/utils.py)
_DDP_OPS = {
    '_sync_buffers': "DistributedDataParallel's buffer broadcast before forward "
    '(broadcast_buffers=True)',
    '_verify_param_shape_across_processes': "DistributedDataParallel's check of parameter "
    'shapes across ranks (in its constructor)',
}
# ... and its C++ calls, by the source line of the innermost DDP frame
_DDP_CALLS = {
    '_rebuild_buckets': "DistributedDataParallel's gradient-bucket rebuild before its second "
    'forward (rank 0 broadcasts the bucket order)',
}


class CollectiveTimeoutError(RuntimeError):
    """A collective did not complete within ``env_cfg.dist_cfg.timeout``."""


def dist_timeout_from_cfg(cfg) -> float:
    """``env_cfg.dist_cfg.timeout`` in seconds (:data:`DEFAULT_DIST_TIMEOUT_S` if unset)."""
    env_cfg = cfg.get('env_cfg', None) or {}
    dist_cfg = env_cfg.get('dist_cfg', None) or {}
    value = dist_cfg.get('timeout', None)
    if value is None:
        return DEFAULT_DIST_TIMEOUT_S
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    try:
        seconds = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f'{SETTING} must be a number of seconds, got {value!r}.') from err
    if not seconds > 0:
        raise ValueError(f'{SETTING} must be a positive number of seconds, got {value!r}.')
    return seconds


def is_timeout_error(err: BaseException) -> bool:
    """Whether ``err`` is a distributed backend's collective (or store) timeout."""
    if not isinstance(err, RuntimeError) or not _TIMEOUT_RE.search(str(err)):
        return False
    if isinstance(err, getattr(dist, 'DistError', ())) or _DIST_RE.search(str(err)):
        return True
    frames = traceback.extract_tb(err.__traceback__) if err.__traceback__ else []
    # gloo's 'Application timeout caused pair closure' names no backend: trust the frames
    return any(
        '/torch/distributed/' in fr.filename
        or fr.filename.endswith('/torch/nn/parallel/distributed.py')
        for fr in frames
    )


def _short_path(filename: str) -> str:
    for marker in ('/csml_mm/', '/mmengine/', '/mmpretrain/', '/torch/', '/tools/'):
        if marker in filename:
            return marker.strip('/') + '/' + filename.split(marker, 1)[1]
    return filename


def _caller(frames: List[traceback.FrameSummary], index: int) -> str:
    """' called from FILE:LINE (FUNCTION)': the innermost frame before ``index`` outside
    torch and mmengine's dist helpers, or '' if there is none."""
    for fr in reversed(frames[:index]):
        if not any(p in fr.filename for p in ('/torch/', '/mmengine/dist/')):
            return f' called from {_short_path(fr.filename)}:{fr.lineno} ({fr.name})'
    return ''


def describe_collective(err: BaseException) -> str:
    """The collective that failed and where it was called, as far as ``err`` shows it."""
    frames = traceback.extract_tb(err.__traceback__) if err.__traceback__ else []
    op_index = None
    for i, fr in enumerate(frames):
        if '/torch/distributed/' in fr.filename and fr.name in _COLLECTIVES:
            op_index = i  # the innermost one wins
    if op_index is not None:
        return f'the collective `{frames[op_index].name}`{_caller(frames, op_index)}'
    # DistributedDataParallel's own broadcasts run in C++ (dist._broadcast_coalesced), so
    # no frame carries a collective's name; its Python helpers name them instead.
    for i, fr in enumerate(frames):
        if '/torch/' in fr.filename and fr.name in _DDP_OPS:
            return f'{_DDP_OPS[fr.name]}{_caller(frames, i)}'
    for i in range(len(frames) - 1, -1, -1):  # innermost DDP frame: its line names the call
        fr = frames[i]
        if fr.filename.endswith('/torch/nn/parallel/distributed.py'):
            what = next(
                (desc for call, desc in _DDP_CALLS.items() if call in (fr.line or '')),
                f'a collective inside DistributedDataParallel.{fr.name}',
            )
            return f'{what}{_caller(frames, i)}'
    match = _NCCL_OP_RE.search(str(err))
    if match:
        return f'the NCCL collective {match.group(1)}'
    if any(fr.name == 'backward' for fr in frames):
        return 'the gradient all-reduce of DistributedDataParallel (in backward)'
    return 'a collective (not identifiable from the traceback)'


class RankHeartbeat:
    """Each rank bumps a counter in the rendezvous store every ``interval`` seconds.

    :meth:`silent_ranks` reads the other ranks' counters twice, ``wait`` seconds
    apart, and returns those whose counter did not move: ranks that are stopped,
    hung in C++ with the interpreter frozen, or dead. A rank that is alive but
    waiting elsewhere (a mismatched collective) keeps counting. Uses a clone of the
    default store with a short timeout, so a lost store cannot block the caller for
    long. Does nothing without an initialised process group of 2+ ranks.
    """

    def __init__(self, interval: float = 2.0, store_timeout: float = 5.0) -> None:
        self.interval = float(interval)
        self.store_timeout = float(store_timeout)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._store = None
        self.rank, self.world_size = 0, 1
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
            self._store = self._clone_store()

    def _clone_store(self):
        try:
            store = dist.distributed_c10d._get_default_store().clone()
            store.set_timeout(datetime.timedelta(seconds=self.store_timeout))
            return store
        except Exception:  # an unusual store: run without heartbeats
            return None

    def start(self) -> 'RankHeartbeat':
        if self._store is None or self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name='csml-heartbeat', daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the heartbeats and wait for the thread to end.

        The wait matters at exit: a daemon thread still inside a store call (C++, with the
        GIL released) when the interpreter finalises is ended with ``pthread_exit`` on its
        way back, which aborts the process through C++ (``terminate called without an
        active exception``), failing a run that had finished. One store call is bounded by
        ``store_timeout``.
        """
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.store_timeout + self.interval + 1.0)

    @property
    def running(self) -> bool:
        """Whether the heartbeat thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        key = _KEY.format(self.rank)
        while not self._stop.is_set():
            try:
                self._store.add(key, 1)
            except Exception:  # the store is gone: the job is ending anyway
                return
            self._stop.wait(self.interval)

    def _counters(self, store) -> List[Optional[int]]:
        out: List[Optional[int]] = [None] * self.world_size
        for r in range(self.world_size):
            try:
                out[r] = int(store.add(_KEY.format(r), 0))
            except Exception:  # the store is unreachable: do not wait once per rank
                break
        return out

    def silent_ranks(self, wait: Optional[float] = None) -> Tuple[List[int], bool]:
        """``(ranks without a heartbeat, whether the store could be read)``."""
        if self._store is None:
            return [], False
        store = self._clone_store()  # this thread's own connection
        if store is None:
            return [], False
        before = self._counters(store)
        if all(c is None for c in before):
            return [], False
        time.sleep(2.5 * self.interval if wait is None else wait)
        after = self._counters(store)
        silent = [
            r
            for r in range(self.world_size)
            if r != self.rank and (before[r] is None or after[r] is None or after[r] == before[r])
        ]
        return silent, True


def timeout_message(
    err: BaseException, timeout_s: Optional[float], heartbeat: Optional[RankHeartbeat] = None
) -> str:
    """The explanation :func:`explain_collective_timeout` raises with."""
    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    backend = dist.get_backend() if dist.is_available() and dist.is_initialized() else '?'
    others = [r for r in range(world) if r != rank]
    limit = f'{timeout_s:g} s' if timeout_s is not None else "torch's default"
    lines = [
        f'rank {rank} of {world} (world size {world}, backend {backend}): '
        f'{describe_collective(err)} did not complete within {limit}; it waited for '
        f'rank(s) {others}.'
    ]
    if heartbeat is not None:
        silent, readable = heartbeat.silent_ranks()
        if silent:
            lines.append(
                f'No heartbeat from rank(s) {silent}: they are stopped, hung or dead '
                '(a rank that crashes normally closes its sockets and fails the job '
                'at once).'
            )
        elif readable:
            lines.append(
                f'All other ranks {others} are alive: they are busy elsewhere (a '
                'long rank-specific step, or a collective they never reach).'
            )
    lines.append(
        f'The limit is {SETTING} (seconds; default {DEFAULT_DIST_TIMEOUT_S:g} in '
        f'configs/_base_/default_runtime.py). Raise it if a rank legitimately works '
        f'alone for longer (e.g. rank-0 kNN evaluation on a large set): '
        f'--cfg-options {SETTING}=1800. See docs/distributed.md.'
    )
    lines.append(f'Backend error: {str(err).strip().splitlines()[0][:300] if str(err) else err!r}')
    return '\n'.join(lines)


@contextmanager
def explain_collective_timeout(
    timeout_s: Optional[float], heartbeat_interval: float = 2.0
) -> Iterator[None]:
    """Run the body with heartbeats; re-raise a collective timeout with an explanation.

    Outside a process group of 2+ ranks this only runs the body.
    """
    heartbeat = RankHeartbeat(heartbeat_interval).start()
    try:
        yield
    except RuntimeError as err:
        if (
            not is_timeout_error(err)
            or isinstance(err, CollectiveTimeoutError)
            or heartbeat.world_size == 1
        ):
            raise
        heartbeat.stop()
        raise CollectiveTimeoutError(timeout_message(err, timeout_s, heartbeat)) from err
    finally:
        heartbeat.stop()


__all__ = [
    'CollectiveTimeoutError',
    'DEFAULT_DIST_TIMEOUT_S',
    'RankHeartbeat',
    'describe_collective',
    'dist_timeout_from_cfg',
    'explain_collective_timeout',
    'is_timeout_error',
    'timeout_message',
]
