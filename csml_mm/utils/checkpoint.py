"""Safe checkpoint loading and atomic checkpoint writing.

Loading: torch >= 2.6 loads with ``weights_only=True`` by default, which refuses
the few non-tensor classes every mmengine checkpoint holds (the logger's
``HistoryBuffer`` and the numpy arrays inside it), so mmengine 0.10.7 cannot
resume. We keep ``weights_only=True`` and allow exactly those classes, inside a
``torch.serialization.safe_globals`` context (the allow-list is scoped to our
loader; torch's global allow-list is never touched). Any other global in the
pickle -- e.g. ``os.system`` in a crafted file -- is refused with
:class:`UnsafeCheckpointError`. A file that is no checkpoint at all (empty, text or
HTML, random bytes, a truncated download) raises :class:`UnreadableCheckpointError`
instead: both derive from :class:`CheckpointLoadError` and name the file.

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

from .checkpoint_discovery import ZIP_MAGIC, zip_checkpoint_problem


class CheckpointLoadError(Exception):
    """Base class of the errors of :func:`safe_torch_load`; ``path`` is the file."""

    def __init__(self, message: str, path: str = '') -> None:
        super().__init__(message)
        self.path = path


class UnsafeCheckpointError(CheckpointLoadError, pickle.UnpicklingError):
    """Raised when a checkpoint's pickle references a global outside the allow-list."""


class UnreadableCheckpointError(CheckpointLoadError, ValueError):
    """Raised when a file is not a torch checkpoint at all (empty, text, truncated, damaged)."""


#: First bytes of the files ``torch.save`` writes: a zip archive (torch >= 1.6,
#: :data:`~csml_mm.utils.checkpoint_discovery.ZIP_MAGIC`) or the legacy format, a protocol-2
#: pickle that starts with torch's magic number (a 10-byte long).
_LEGACY_MAGIC = b'\x80\x02\x8a\x0a' + (0x1950A86A20F9469CFC6C).to_bytes(10, 'little')
_FIX_UNREADABLE = (
    'Re-download or re-copy the file, or pick another checkpoint (e.g. an '
    'earlier epoch_N.pth / iter_N.pth in the same work dir).'
)


def _looks_like(head: bytes) -> str:
    """A short description of what a non-checkpoint file looks like, from its first bytes."""
    text = head.lstrip()
    if text[:1] == b'<' and (b'html' in text[:200].lower() or b'<?xml' in text[:10]):
        return 'an HTML/XML page (often an error page saved by a failed download)'
    try:
        decoded = head.decode('utf-8')
    except UnicodeDecodeError:
        decoded = None
    if decoded is not None and all(c.isprintable() or c in '\r\n\t' for c in decoded[:200]):
        return f'a text file (it starts with {decoded[:40]!r})'
    return f'binary data that is neither a zip archive nor a pickle (it starts with {head[:8]!r})'


def describe_unreadable(path: Union[str, Path]) -> Optional[str]:
    """Why the file at ``path`` cannot be a torch checkpoint, or ``None`` if it may be one.

    Looks only at the bytes (nothing is unpickled): an empty file, text or HTML, random
    bytes, and a zip archive that is not a complete checkpoint (the one zip check of
    csml_mm, :func:`~csml_mm.utils.checkpoint_discovery.zip_checkpoint_problem`: its end is
    missing, as after an interrupted download or copy, it has no ``data.pkl``, or a record
    fails its CRC-32) are reported. A file in torch's legacy format is left to ``torch.load``.

    Args:
        path: The file to check.

    Returns:
        Optional[str]: The reason, or None when the file may be a checkpoint.
    """
    size = osp.getsize(path)
    if size == 0:
        return 'the file is empty'
    with open(path, 'rb') as fh:
        head = fh.read(512)
    if head.startswith(ZIP_MAGIC):
        return zip_checkpoint_problem(str(path))
    if head.startswith(_LEGACY_MAGIC[:4]):
        return None  # legacy torch format: torch.load decides
    return f'it is not a torch checkpoint but {_looks_like(head)}'


def _unreadable(name: str, size: Optional[int], reason: str) -> UnreadableCheckpointError:
    where = f'{name} ({size:,} bytes)' if size is not None else name
    return UnreadableCheckpointError(
        f'Cannot read checkpoint {where}: {reason}. This is not a security refusal; the '
        f'file is broken or not a checkpoint. {_FIX_UNREADABLE}',
        path=name,
    )


#: Phrases of torch's weights-only unpickler that mean "refused for safety", as opposed to a
#: damaged pickle stream ("Unsupported operand", "String is too long", EOF, ...).
_UNSAFE_PATTERNS = (
    'was not an allowed global',
    'is blocked',
    'unrecognized function',
    'Can only create new object',
    'Can only build',
    'must be imported to load',
    'unsupported class',
    'Unsupported global',
    'is not allowed in a checkpoint',
)
#: Messages of torch's archive reader that mean the bytes are damaged; other errors (e.g. a
#: CUDA checkpoint on a machine without CUDA) are not about the file and pass through as-is.
_DAMAGED_PATTERNS = (
    'PytorchStreamReader',
    'zip archive',
    'central directory',
    'failed finding',
    'failed reading',
    'Invalid argument',
    'unexpected EOF',
    'magic number',
    'truncated',
    'TorchScript',
    'Invalid magic',
    'invalid load key',
)


def _numpy_globals() -> List[Any]:
    """Numpy objects needed to rebuild plain arrays and scalars."""
    try:  # numpy >= 2
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray  # type: ignore
    allowed: List[Any] = [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype]
    # Concrete dtype classes (numpy.dtypes.Float64DType, ...) of the numeric types.
    for t in (
        np.bool_,
        np.int8,
        np.int16,
        np.int32,
        np.int64,
        np.uint8,
        np.uint16,
        np.uint32,
        np.uint64,
        np.float16,
        np.float32,
        np.float64,
    ):
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

    if (
        (obj is HistoryBuffer or isinstance(obj, HistoryBuffer))
        and isinstance(name, str)
        and name in ({'min', 'max', 'current', 'mean'} | set(HistoryBuffer._statistics_methods))
    ):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'getattr({type(obj).__name__}, {name!r}) is not allowed in a checkpoint.'
    )


def checkpoint_safe_globals() -> List[Any]:
    """The exact allow-list used by :func:`safe_torch_load`."""
    from mmengine.logging.history_buffer import HistoryBuffer

    return [
        HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr'),
        *_numpy_globals(),
        *_EXTRA_SAFE_GLOBALS,
    ]


def safe_torch_load(f: Union[str, Path, Any], map_location: Any = None) -> Any:
    """``torch.load(f, weights_only=True)`` with the mmengine/csml_mm allow-list.

    Raises:
        UnsafeCheckpointError: if the file references any other global.
        UnreadableCheckpointError: if the file is not a torch checkpoint at all (empty, text,
            random bytes, a truncated download).
    """
    is_path = isinstance(f, (str, Path))
    name = str(f) if is_path else getattr(f, 'name', '<stream>')
    size = osp.getsize(f) if is_path and osp.isfile(f) else None
    if is_path and osp.isfile(f):
        reason = describe_unreadable(f)
        if reason is not None:
            raise _unreadable(name, size, reason)
    try:
        with torch.serialization.safe_globals(checkpoint_safe_globals()):
            return torch.load(f, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        lines = str(e).splitlines()
        if not any(p in str(e) for p in _UNSAFE_PATTERNS):
            detail = next(
                (ln.strip() for ln in reversed(lines) if ln.strip() and 'torch.load' not in ln),
                repr(e),
            )
            raise _unreadable(name, size, f'its pickle data is damaged ({detail[:200]})') from e
        detail = next(
            (
                ln.strip()
                for ln in lines
                if 'Unsupported' in ln or 'GLOBAL' in ln or 'unrecognized' in ln
            ),
            lines[0] if lines else repr(e),
        )
        raise UnsafeCheckpointError(
            f'Refused to load checkpoint {name}: it is unsafe, it references code or classes '
            'outside the allow-list of what mmengine/csml_mm checkpoints hold, so loading it '
            'could run arbitrary code. If you trust the file, convert it once, in a separate '
            'trusted session, to a plain state dict: torch.save(torch.load(path, '
            "weights_only=False)['state_dict'], new_path). Details: " + detail,
            path=name,
        ) from e
    except (EOFError, RuntimeError, OSError, ValueError, UnicodeDecodeError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if isinstance(e, EOFError):
            reason = 'the data ends early (a truncated file)'
        elif isinstance(e, UnicodeDecodeError):
            reason = f'its pickle data is damaged ({msg[:200]})'
        elif 'TorchScript' in msg:
            reason = 'it is a TorchScript archive (torch.jit.save), not a checkpoint'
        elif any(p in msg for p in _DAMAGED_PATTERNS):
            reason = f'torch cannot read it as a checkpoint ({type(e).__name__}: {msg[:200]})'
        else:
            raise
        raise _unreadable(name, size, reason) from e


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
        fd, tmp = tempfile.mkstemp(
            prefix=f'.{osp.basename(filepath)}.', suffix='.tmp', dir=directory
        )
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
    CheckpointLoader.register_scheme(
        prefixes='', loader=loader or _load_from_local_safe, force=True
    )
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    from mmengine.fileio import io as _io

    # Drop cached LocalBackend instances so that the atomic one is used from now on.
    for key in [k for k, v in _io.backend_instances.items() if type(v) is LocalBackend]:
        del _io.backend_instances[key]
    _installed = True
