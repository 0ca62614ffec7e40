"""Test-only crash injection for tools/train.py, loaded through ``custom_imports``.

The training child process imports this module by name (the tests put this folder on
``PYTHONPATH``). Two real, uncatchable kills, driven by environment variables so that the
same config serves the interrupted, the resumed and the uninterrupted run:

* ``CSML_TEST_KILL_AFTER_ITER=N``: :class:`KillSwitchHook` sends ``SIGKILL`` to its own
  process once ``N`` training iterations are done (after every other hook of that
  iteration, checkpoint saving included).
* ``CSML_TEST_KILL_DURING_SAVE=epoch_2.pth``: the write of the checkpoint with that file
  name is killed half-way: the file object the local storage backend opens for the bytes
  receives the first half, is flushed to disk, and then the process gets ``SIGKILL`` --
  before any fsync or rename the backend would do next.
"""

import builtins
import io
import os
import os.path as osp
import signal
from typing import Any, Callable, Optional

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

KILL_AFTER_ITER = 'CSML_TEST_KILL_AFTER_ITER'
KILL_DURING_SAVE = 'CSML_TEST_KILL_DURING_SAVE'


def _die(message: str) -> None:
    print(message, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class KillSwitchHook(Hook):
    """``SIGKILL`` this process after ``$CSML_TEST_KILL_AFTER_ITER`` iterations."""

    priority = 'LOWEST'  # after CheckpointHook: a checkpoint due at that iteration is written

    def after_train_iter(
        self, runner, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        at = os.environ.get(KILL_AFTER_ITER)
        if at and runner.iter + 1 == int(at):
            _die(
                f'KillSwitchHook: SIGKILL after iteration {at} '
                f'(epoch {runner.epoch + 1}, batch {batch_idx + 1})'
            )


class _HalfThenDie(io.RawIOBase):
    """A binary file wrapper whose first ``write`` stores half the bytes and kills."""

    def __init__(self, fh: Any, path: str) -> None:
        super().__init__()
        self._fh = fh
        self._path = path

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        data = bytes(data)
        self._fh.write(data[: len(data) // 2])
        self._fh.flush()
        os.fsync(self._fh.fileno())
        _die(
            f'crash_hooks: SIGKILL after writing {len(data) // 2} of {len(data)} bytes to '
            f'{self._path}'
        )
        return 0  # never reached

    def fileno(self) -> int:
        return self._fh.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


def _install_kill_during_save(target: str) -> None:
    """Wrap the registered local backend's ``put`` for files named ``target``."""
    from mmengine.fileio.backends.registry_utils import backends

    backend_cls = backends['local']
    original_put: Callable = backend_cls.put

    def put(self, obj: bytes, filepath: Any) -> None:
        if osp.basename(str(filepath)) != target:
            return original_put(self, obj, filepath)
        real_fdopen, real_open = os.fdopen, builtins.open

        def fdopen(fd: int, mode: str = 'r', *args: Any, **kwargs: Any) -> Any:
            fh = real_fdopen(fd, mode, *args, **kwargs)
            return _HalfThenDie(fh, f'fd {fd}') if 'w' in mode and 'b' in mode else fh

        def open_(file: Any, mode: str = 'r', *args: Any, **kwargs: Any) -> Any:
            fh = real_open(file, mode, *args, **kwargs)
            return _HalfThenDie(fh, str(file)) if 'w' in mode and 'b' in mode else fh

        os.fdopen, builtins.open = fdopen, open_
        try:
            return original_put(self, obj, filepath)
        finally:
            os.fdopen, builtins.open = real_fdopen, real_open

    backend_cls.put = put


_target: Optional[str] = os.environ.get(KILL_DURING_SAVE)
if _target:
    _install_kill_during_save(_target)
