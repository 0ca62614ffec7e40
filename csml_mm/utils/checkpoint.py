"""Safe checkpoint loading and atomic checkpoint writing.

Loading: torch >= 2.6 loads with ``weights_only=True`` by default, which refuses
the few non-tensor classes every mmengine checkpoint holds (the logger's
``HistoryBuffer`` and the numpy arrays inside it), so mmengine 0.10.7 cannot
resume. We keep ``weights_only=True`` and allow exactly those classes, inside a
``torch.serialization.safe_globals`` context (the allow-list is scoped to our
loader; torch's global allow-list is never touched). Any other global in the
pickle -- e.g. ``os.system`` in a crafted file -- is refused with
:class:`UnsafeCheckpointError`.

Writing: mmengine writes checkpoints through its ``LocalBackend.put``, which
opens the target file and writes into it; a crash mid-write leaves a truncated
checkpoint under the final name. :class:`AtomicLocalBackend` writes to a
temporary file in the same directory, fsyncs it and renames it over the target.
"""
import os
import os.path as osp
import pickle
import tempfile
from pathlib import Path
from typing import Any, Callable, List, Optional, Union

import numpy as np
import torch
from mmengine.fileio.backends import LocalBackend, register_backend
from mmengine.runner.checkpoint import CheckpointLoader


class UnsafeCheckpointError(pickle.UnpicklingError):
    """Raised when a checkpoint's pickle references a global outside the allow-list."""


def _numpy_globals() -> List[Any]:
    """Numpy objects needed to rebuild plain arrays and scalars."""
    try:  # numpy >= 2
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray  # type: ignore
    allowed: List[Any] = [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype]
    # Concrete dtype classes (numpy.dtypes.Float64DType, ...) of the numeric types.
    for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
              np.uint32, np.uint64, np.float16, np.float32, np.float64):
        allowed.append(type(np.dtype(t)))
    return allowed


_EXTRA_SAFE_GLOBALS: List[Any] = []


def register_safe_globals(*objs: Any) -> None:
    """Add classes that csml_mm checkpoints legitimately hold to the allow-list."""
    for obj in objs:
        if obj not in _EXTRA_SAFE_GLOBALS:
            _EXTRA_SAFE_GLOBALS.append(obj)


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stand-in for ``getattr`` while unpickling: only HistoryBuffer's statistics.

    ``HistoryBuffer.statistics_methods`` holds its statistic functions, which
    pickle as ``getattr(HistoryBuffer, 'mean')``. Allowing the builtin ``getattr`` would let a
    crafted file reach arbitrary attributes, so this replacement resolves only
    the statistic methods of a ``HistoryBuffer`` and refuses everything else.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    if ((obj is HistoryBuffer or isinstance(obj, HistoryBuffer)) and isinstance(name, str)
            and name in ({'min', 'max', 'current', 'mean'}
                         | set(HistoryBuffer._statistics_methods))):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'getattr({type(obj).__name__}, {name!r}) is not allowed in a checkpoint.')


def checkpoint_safe_globals() -> List[Any]:
    """The exact allow-list used by :func:`safe_torch_load`."""
    from mmengine.logging.history_buffer import HistoryBuffer
    return [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr'), *_numpy_globals(),
            *_EXTRA_SAFE_GLOBALS]


def safe_torch_load(f: Union[str, Path, Any], map_location: Any = None) -> Any:
    """``torch.load(f, weights_only=True)`` with the mmengine/csml_mm allow-list.

    Raises:
        UnsafeCheckpointError: if the file references any other global.
    """
    name = f if isinstance(f, (str, Path)) else getattr(f, 'name', '<stream>')
    try:
        with torch.serialization.safe_globals(checkpoint_safe_globals()):
            return torch.load(f, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        lines = str(e).splitlines()
        detail = next((ln.strip() for ln in lines if 'Unsupported' in ln or 'GLOBAL' in ln),
                      lines[0] if lines else repr(e))
        raise UnsafeCheckpointError(
            f'Refused to load checkpoint {name}: it references code or classes outside the '
            'allow-list of what mmengine/csml_mm checkpoints hold, so loading it could run '
            'arbitrary code. If you trust the file, convert it once, in a separate trusted '
            "session, to a plain state dict: torch.save(torch.load(path, weights_only=False)"
            "['state_dict'], new_path). Details: " + detail) from e


def _load_from_local_safe(filename: str, map_location: Any = None) -> Any:
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_torch_load(filename, map_location=map_location)


class AtomicLocalBackend(LocalBackend):
    """mmengine ``LocalBackend`` whose writes are atomic (temp file + rename)."""

    def _atomic_write(self, data: bytes, filepath: Union[str, Path]) -> None:
        filepath = str(filepath)
        directory = osp.dirname(osp.abspath(filepath))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(filepath)}.', suffix='.tmp',
                                   dir=directory)
        try:
            with os.fdopen(fd, 'wb') as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, filepath)
        except BaseException:
            if osp.exists(tmp):
                os.unlink(tmp)
            raise

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        self._atomic_write(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        self._atomic_write(obj.encode(encoding), filepath)


_installed = False


def install_checkpoint_io(loader: Optional[Callable] = None) -> None:
    """Route mmengine's local checkpoint loading and file writing through the safe,
    atomic versions above. Called once by ``import csml_mm``."""
    global _installed
    if _installed:
        return
    CheckpointLoader.register_scheme(prefixes='', loader=loader or _load_from_local_safe,
                                     force=True)
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    from mmengine.fileio import io as _io
    # Drop cached LocalBackend instances so that the atomic one is used from now on.
    for key in [k for k, v in _io.backend_instances.items() if type(v) is LocalBackend]:
        del _io.backend_instances[key]
    _installed = True
