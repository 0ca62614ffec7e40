"""Which checkpoint files on disk are complete, and which one a run continues from.

This is the one place that decides both questions; every part of csml_mm that looks for
"the newest complete checkpoint" calls it, so they all name the same file:

- ``tools/train.py --resume`` without a path (:func:`find_resume_checkpoint`, re-exported by
  :mod:`csml_mm.engine.resume`);
- the "last good checkpoint" of :class:`~csml_mm.engine.hooks.NonFiniteLossHook`;
- the benchmark harness (``tools/benchmarks/bench_quality.py``) and ``tools/demo.py``;
- the safe loader of :mod:`csml_mm.utils.checkpoint`, for its zip check
  (:func:`zip_checkpoint_problem`).

"Complete" is decided from the bytes without unpickling anything: ``torch.save`` writes a
zip archive, and a complete one has its central directory, a ``data.pkl`` record and
matching CRC-32 checksums for every member. Loading (and its safety checks) stays with
:func:`csml_mm.utils.checkpoint.safe_torch_load`.

The choice (:func:`newest_complete_checkpoint`): the file named in ``<work_dir>/last_checkpoint``
(mmengine's choice) when it is complete; otherwise the newest complete ``epoch_N.pth`` /
``iter_N.pth`` of the directory ``last_checkpoint`` points into and of the work dir, newest by
modification time, equal times by the larger N. Temporary files of interrupted atomic writes
(``.epoch_N.pth.*.tmp``) are never candidates.

Only the standard library is imported here (mmengine's logger lazily, for the default
warning of :func:`find_resume_checkpoint`), so light tools can use it too.
"""

import logging
import os
import os.path as osp
import re
import zipfile
from typing import Callable, List, Optional, Tuple

#: The names of the checkpoints mmengine's ``CheckpointHook`` writes: ``epoch_N.pth`` /
#: ``iter_N.pth`` (group 1: ``epoch`` or ``iter``, group 2: N).
CHECKPOINT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')
#: ``AtomicLocalBackend``'s temporary files: what an interrupted checkpoint save leaves behind.
PARTIAL_NAME = re.compile(r'^\.(epoch|iter)_(\d+)\.pth\..+\.tmp$')
#: First bytes of the zip archives ``torch.save`` writes (torch >= 1.6, and so mmengine).
ZIP_MAGIC = b'PK\x03\x04'

Warn = Callable[[str], None]


class NoCompleteCheckpointError(FileNotFoundError):
    """``--resume`` found checkpoints in the work dir, but none of them is complete."""


def zip_checkpoint_problem(path: str) -> Optional[str]:
    """Why the zip archive at ``path`` is not a complete ``torch.save`` checkpoint, or None.

    The one zip check of csml_mm: the archive must have its central directory (its end), a
    ``data.pkl`` record and a correct CRC-32 for every member. Nothing is unpickled. The
    caller has already seen :data:`ZIP_MAGIC` at the start of the file.

    Args:
        path: The file to check.

    Returns:
        Optional[str]: The reason, phrased to follow "it is not usable because", or None when
        the archive is complete.
    """
    try:
        if not zipfile.is_zipfile(path):
            return (
                'it is truncated or damaged (a truncated zip archive: its end, the zip '
                'directory, is missing, as after an interrupted download, copy or save)'
            )
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if not any(n == 'data.pkl' or n.endswith('/data.pkl') for n in names):
                return (
                    'it is a zip archive but not a torch checkpoint (no data.pkl record; '
                    f'it holds {", ".join(names[:3]) or "nothing"})'
                )
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        return f'it is truncated or damaged (a damaged zip archive: {err})'
    if damaged is not None:
        return f'its record {damaged} fails the CRC-32 check (damaged bytes)'
    return None


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a complete ``torch.save`` checkpoint, or ``None`` when it is.

    Stricter than the loader's check: only zip checkpoints (what mmengine writes) count, so
    a file in torch's legacy format is reported too.

    Args:
        path: The file to check.

    Returns:
        Optional[str]: The reason (the file is missing, empty, not a zip archive, or fails
        :func:`zip_checkpoint_problem`), or None when the checkpoint is complete.
    """
    try:
        if not osp.isfile(path):
            return 'the file does not exist'
        if osp.getsize(path) == 0:
            return 'the file is empty'
        with open(path, 'rb') as fh:
            head = fh.read(4)
    except FileNotFoundError:  # removed meanwhile (max_keep_ckpts)
        return 'the file does not exist'
    if head != ZIP_MAGIC:
        return (
            'it is not a zip-format torch checkpoint (mmengine writes those; its first '
            f'bytes are {head!r})'
        )
    return zip_checkpoint_problem(path)


def checkpoint_step(path: str) -> Optional[int]:
    """N of a checkpoint named ``epoch_N.pth`` / ``iter_N.pth`` (N epochs or iterations done).

    Args:
        path: The checkpoint; only its file name is read.

    Returns:
        Optional[int]: N, or None when the name is not of that form.
    """
    match = CHECKPOINT_NAME.match(osp.basename(path))
    return int(match.group(2)) if match else None


def checkpoint_candidates(directory: str) -> List[str]:
    """The ``epoch_N.pth`` / ``iter_N.pth`` files of ``directory``, newest first.

    Newest is the latest modification time; equal times fall back to the larger N (then the
    name). Completeness is not checked here (:func:`checkpoint_problem`).

    Args:
        directory: The folder to list; a missing one has no candidates.

    Returns:
        List[str]: The paths (``directory`` joined with the file name).
    """
    if not osp.isdir(directory):
        return []
    found: List[Tuple[float, int, str]] = []
    for name in os.listdir(directory):
        match = CHECKPOINT_NAME.match(name)
        path = osp.join(directory, name)
        if match and osp.isfile(path):
            try:
                found.append((osp.getmtime(path), int(match.group(2)), path))
            except FileNotFoundError:  # removed meanwhile (max_keep_ckpts)
                continue
    return [path for _, _, path in sorted(found, reverse=True)]


def _ignore(message: str) -> None:
    """The default ``warn`` of :func:`newest_complete_checkpoint`: says nothing."""


def _search(work_dir: str, warn: Warn) -> Tuple[Optional[str], List[str]]:
    """The rule of :func:`newest_complete_checkpoint`.

    Returns:
        Tuple[Optional[str], List[str]]: The chosen checkpoint (or None) and
        ``'<path>: <problem>'`` for every file rejected on the way.
    """
    partial = (
        sorted(n for n in os.listdir(work_dir) if PARTIAL_NAME.match(n))
        if osp.isdir(work_dir)
        else []
    )
    if partial:
        warn(
            f'{", ".join(partial)} in {work_dir} are left by interrupted checkpoint saves; '
            'they are never resumed from and can be deleted.'
        )
    pointer = osp.join(work_dir, 'last_checkpoint')
    pointed: Optional[str] = None
    if osp.isfile(pointer):
        with open(pointer, encoding='utf-8', errors='replace') as fh:
            pointed = fh.read().strip() or None
        if pointed is None:
            warn(f'{pointer} is empty; looking for the newest complete checkpoint.')
    rejected: List[str] = []
    if pointed is not None:
        problem = checkpoint_problem(pointed)
        if problem is None:
            return pointed, rejected
        rejected.append(f'{pointed}: {problem}')
        warn(
            f'{pointer} names {pointed}, but {problem}; looking for the newest complete '
            'checkpoint instead.'
        )
    directories = [work_dir]
    if pointed is not None and osp.abspath(osp.dirname(pointed)) != osp.abspath(work_dir):
        directories.insert(0, osp.dirname(pointed))
    seen = {osp.abspath(pointed)} if pointed is not None else set()
    for directory in directories:
        for path in checkpoint_candidates(directory):
            if osp.abspath(path) in seen:
                continue
            seen.add(osp.abspath(path))
            problem = checkpoint_problem(path)
            if problem is None:
                if rejected:
                    warn(f'resuming from {path}, the newest complete checkpoint.')
                return path, rejected
            rejected.append(f'{path}: {problem}')
            warn(f'skipping {path}: {problem}.')
    return None, rejected


def newest_complete_checkpoint(work_dir: str, warn: Warn = _ignore) -> Optional[str]:
    """The checkpoint a run in ``work_dir`` continues from, or None when there is none.

    The rule of ``tools/train.py --resume`` (see the module docstring):

    1. ``last_checkpoint`` names a complete checkpoint: that one (mmengine's choice).
    2. Otherwise the newest complete ``epoch_N.pth`` / ``iter_N.pth`` in the directory
       ``last_checkpoint`` points into and in ``work_dir`` (:func:`checkpoint_candidates`
       gives the order); every skipped file is reported through ``warn`` with the reason.
       Temporary files of interrupted atomic writes (``.epoch_N.pth.*.tmp``) are never
       candidates (``warn`` names them).

    Unlike :func:`find_resume_checkpoint`, nothing is raised when checkpoints exist but none
    is complete.

    Args:
        work_dir: The run's work dir (where mmengine writes ``last_checkpoint``).
        warn: Called with each warning (a sentence without a prefix). Defaults to saying
            nothing.

    Returns:
        Optional[str]: The checkpoint's path (as ``last_checkpoint`` names it, or joined to
        its directory), or None.
    """
    return _search(work_dir, warn)[0]


def _warn(message: str) -> None:
    """The default ``warn`` of :func:`find_resume_checkpoint`: a warning in the current log."""
    from mmengine.logging import print_log

    print_log(message, logger='current', level=logging.WARNING)


def find_resume_checkpoint(work_dir: str, warn: Warn = _warn) -> Optional[str]:
    """The checkpoint to resume from in ``work_dir``, or ``None`` to start from scratch.

    :func:`newest_complete_checkpoint`, with each warning prefixed by ``--resume:`` and an
    error when there is something to resume but nothing complete:

    1. ``last_checkpoint`` names a complete checkpoint: that one (mmengine's choice).
    2. Otherwise the newest complete ``epoch_N.pth`` / ``iter_N.pth`` in the directory
       ``last_checkpoint`` points into and in ``work_dir``; every skipped file is reported
       through ``warn`` with the reason. Temporary files of interrupted atomic writes
       (``.epoch_N.pth.*.tmp``) are never candidates (``warn`` names them).
    3. Nothing to resume from at all: ``None``.

    Args:
        work_dir: The run's work dir.
        warn: Called with each warning. Defaults to a warning in mmengine's current logger.

    Returns:
        Optional[str]: The checkpoint's path, or None.

    Raises:
        NoCompleteCheckpointError: there are checkpoints (or a ``last_checkpoint`` pointer)
            but none is complete; the message lists each file and what is wrong with it.
    """
    path, rejected = _search(work_dir, lambda message: warn(f'--resume: {message}'))
    if path is not None:
        return path
    pointer = osp.join(work_dir, 'last_checkpoint')
    if rejected or osp.isfile(pointer):
        listing = '\n  '.join(rejected) or f'{pointer} is empty'
        raise NoCompleteCheckpointError(
            f'--resume: no complete checkpoint to resume from in {work_dir}:\n  {listing}\n'
            'Pass a checkpoint explicitly with --resume PATH, or remove the broken files and '
            f'{pointer} to start from scratch.'
        )
    return None
