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
names ``tools/train.py`` and the tests import from here. :func:`resume_epochs_problem` checks
that a resumed run keeps the length it was started with (``tools/train.py --epochs``).
"""

from typing import Optional

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
    'resume_epochs_problem',
]


def _schedule_ends(schedulers) -> list:
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    return [
        (s.get('type'), s.get('begin', 0), s.get('end'), s.get('T_max'))
        for s in (schedulers or [])
        if isinstance(s, dict)
    ]


def resume_epochs_problem(
    checkpoint: str, param_scheduler, epochs_flag: Optional[int]
) -> Optional[str]:
    """Why resuming ``checkpoint`` under ``param_scheduler`` would change the run's schedule,
    or None.

    A run started with ``tools/train.py CONFIG --epochs N`` has its learning-rate schedule
    stretched to N epochs; resumed without ``--epochs N`` it would take the config's own
    schedule and length, ending early (or at once) on a schedule made for N. The schedule the
    run was started with is read from the config mmengine saved in the checkpoint
    (``meta.cfg``). Only the schedulers' spans (``begin``, ``end``, ``T_max``) are compared:
    a run stopped early by ``train_cfg.max_epochs`` alone and resumed with a larger one keeps
    its schedule, and is fine.

    Args:
        checkpoint: The checkpoint to resume from.
        param_scheduler: The ``param_scheduler`` of the run about to start.
        epochs_flag: The ``--epochs`` given now, if any (named in the message).

    Returns:
        Optional[str]: The message, or None when the schedules agree or cannot be read.
    """
    from mmengine.config import Config

    from csml_mm.utils.checkpoint import safe_torch_load

    text = (safe_torch_load(checkpoint, map_location='cpu').get('meta') or {}).get('cfg')
    if not isinstance(text, str):
        return None
    try:
        saved = Config.fromstring(text, '.py')
    except Exception:  # noqa: BLE001  (a config text this mmengine cannot read back)
        return None
    started, now = _schedule_ends(saved.get('param_scheduler')), _schedule_ends(param_scheduler)
    if not started or started == now:
        return None
    length = max((end for _, _, end, _ in started if isinstance(end, int)), default=None)
    asked = f'--epochs {epochs_flag}' if epochs_flag is not None else 'the config as it is'
    hint = f'pass --epochs {length}' if length else 'pass the --epochs it was started with'
    return (
        f'{checkpoint} was trained on a schedule of other length (schedulers begin/end/T_max '
        f'{started}) than {asked} gives ({now}): resumed, the run would end on the wrong '
        f'schedule. To continue that run, {hint}; to train another length, start it in its '
        'own --work-dir.'
    )
