"""Choose the checkpoint that ``tools/train.py --resume`` (without a path) continues from.

mmengine resumes from the file named in ``<work_dir>/last_checkpoint`` and nothing else:
when that file names a checkpoint that is missing, empty or incomplete (a machine crash
before the bytes reached the disk, an interrupted copy of the work dir, a deleted file),
resuming fails; when ``last_checkpoint`` itself is missing, the run silently starts again
from scratch next to the existing checkpoints. :func:`find_resume_checkpoint` keeps
mmengine's choice when it names a complete checkpoint and otherwise falls back to the
newest complete ``epoch_N.pth`` / ``iter_N.pth`` of the directory.

"Complete" is decided from the bytes without unpickling anything: ``torch.save`` writes a
zip archive, and a complete one has its central directory, a ``data.pkl`` record and
matching CRC-32 checksums for every member. Loading (and its safety checks) stays with the
runner.
"""
import logging
import os
import os.path as osp
import re
import zipfile
from typing import Callable, List, Optional, Tuple

from mmengine.logging import print_log

CHECKPOINT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')
# AtomicLocalBackend's temporary files: what an interrupted checkpoint save leaves behind
PARTIAL_NAME = re.compile(r'^\.(epoch|iter)_(\d+)\.pth\..+\.tmp$')
_ZIP_MAGIC = b'PK\x03\x04'


class NoCompleteCheckpointError(FileNotFoundError):
    """``--resume`` found checkpoints in the work dir, but none of them is complete."""


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a complete ``torch.save`` checkpoint, or ``None`` when it is."""
    if not osp.isfile(path):
        return 'the file does not exist'
    if osp.getsize(path) == 0:
        return 'the file is empty'
    with open(path, 'rb') as fh:
        head = fh.read(4)
    if head != _ZIP_MAGIC:
        return ('it is not a zip-format torch checkpoint (mmengine writes those; its first '
                f'bytes are {head!r})')
    try:
        with zipfile.ZipFile(path) as archive:
            if not any(n == 'data.pkl' or n.endswith('/data.pkl') for n in archive.namelist()):
                return 'the archive has no data.pkl record (not a torch checkpoint)'
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        return f'it is truncated or damaged: {err}'
    if damaged is not None:
        return f'its record {damaged} fails the CRC-32 check (damaged bytes)'
    return None


def _candidates(directory: str) -> List[str]:
    """``epoch_N.pth`` / ``iter_N.pth`` files of ``directory``, newest first.

    Newest is the latest modification time; equal times fall back to the larger N.
    """
    if not osp.isdir(directory):
        return []
    found: List[Tuple[float, int, str]] = []
    for name in os.listdir(directory):
        match = CHECKPOINT_NAME.match(name)
        path = osp.join(directory, name)
        if match and osp.isfile(path):
            found.append((osp.getmtime(path), int(match.group(2)), path))
    return [path for _, _, path in sorted(found, reverse=True)]


def _warn(message: str) -> None:
    print_log(message, logger='current', level=logging.WARNING)


def find_resume_checkpoint(work_dir: str,
                           warn: Callable[[str], None] = _warn) -> Optional[str]:
    """The checkpoint to resume from in ``work_dir``, or ``None`` to start from scratch.

    1. ``last_checkpoint`` names a complete checkpoint: that one (mmengine's choice).
    2. Otherwise the newest complete ``epoch_N.pth`` / ``iter_N.pth`` in the directory
       ``last_checkpoint`` points into and in ``work_dir``; every skipped file is reported
       through ``warn`` with the reason. Temporary files of interrupted atomic writes
       (``.epoch_N.pth.*.tmp``) are never candidates (``warn`` names them).
    3. Nothing to resume from at all: ``None``.

    Raises:
        NoCompleteCheckpointError: there are checkpoints (or a ``last_checkpoint`` pointer)
            but none is complete; the message lists each file and what is wrong with it.
    """
    partial = sorted(n for n in os.listdir(work_dir) if PARTIAL_NAME.match(n)) \
        if osp.isdir(work_dir) else []
    if partial:
        warn(f'--resume: {", ".join(partial)} in {work_dir} are left by interrupted checkpoint '
             'saves; they are never resumed from and can be deleted.')
    pointer = osp.join(work_dir, 'last_checkpoint')
    pointed: Optional[str] = None
    if osp.isfile(pointer):
        with open(pointer, encoding='utf-8', errors='replace') as fh:
            pointed = fh.read().strip() or None
        if pointed is None:
            warn(f'--resume: {pointer} is empty; looking for the newest complete checkpoint.')
    rejected: List[str] = []
    if pointed is not None:
        problem = checkpoint_problem(pointed)
        if problem is None:
            return pointed
        rejected.append(f'{pointed}: {problem}')
        warn(f'--resume: {pointer} names {pointed}, but {problem}; looking for the newest '
             'complete checkpoint instead.')
    directories = [work_dir]
    if pointed is not None and osp.abspath(osp.dirname(pointed)) != osp.abspath(work_dir):
        directories.insert(0, osp.dirname(pointed))
    seen = {osp.abspath(pointed)} if pointed is not None else set()
    for directory in directories:
        for path in _candidates(directory):
            if osp.abspath(path) in seen:
                continue
            seen.add(osp.abspath(path))
            problem = checkpoint_problem(path)
            if problem is None:
                if rejected:
                    warn(f'--resume: resuming from {path}, the newest complete checkpoint.')
                return path
            rejected.append(f'{path}: {problem}')
            warn(f'--resume: skipping {path}: {problem}.')
    if rejected or osp.isfile(pointer):
        listing = '\n  '.join(rejected) or f'{pointer} is empty'
        raise NoCompleteCheckpointError(
            f'--resume: no complete checkpoint to resume from in {work_dir}:\n  {listing}\n'
            'Pass a checkpoint explicitly with --resume PATH, or remove the broken files and '
            f'{pointer} to start from scratch.')
    return None
