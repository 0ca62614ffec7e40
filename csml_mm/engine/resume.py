"""Choose the checkpoint that ``tools/train.py --resume`` (without a path) continues from.

mmengine resumes from the file named in ``<work_dir>/last_checkpoint`` and nothing else:
when that file names a checkpoint that is missing, empty or incomplete (a machine crash
before the bytes reached the disk, an interrupted copy of the work dir, a deleted file),
resuming fails; when ``last_checkpoint`` itself is missing, the run silently starts again
from scratch next to the existing checkpoints. :func:`find_resume_checkpoint` keeps
mmengine's choice when it names a complete checkpoint and otherwise falls back to the
newest complete ``epoch_N.pth`` / ``iter_N.pth`` of the directory.

The rule and the completeness check live in :mod:`csml_mm.utils.checkpoint_discovery`, which
the non-finite hook, the benchmark harness and the loader use too; this module re-exports the
names ``tools/train.py`` and the tests import from here.
"""

from csml_mm.utils.checkpoint_discovery import (
    CHECKPOINT_NAME,
    PARTIAL_NAME,
    NoCompleteCheckpointError,
    checkpoint_problem,
    find_resume_checkpoint,
)

__all__ = [
    'CHECKPOINT_NAME',
    'PARTIAL_NAME',
    'NoCompleteCheckpointError',
    'checkpoint_problem',
    'find_resume_checkpoint',
]
