"""Resume an epoch-based run from a checkpoint written in the middle of an epoch."""

import itertools
from typing import Any, Dict, Iterator, Optional

from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop
from mmpretrain.registry import HOOKS

from .rng_state_hook import get_rng_state, set_rng_state

POSITION_KEY = 'epoch_position'


class _SkipFirst:
    """A sampler that drops the first ``skip`` indices of ``sampler``'s epoch.

    On its first iteration it also puts back ``rng_state`` (python, numpy, torch): the
    generators as the resumed checkpoint left them, before the data loader's iterator
    drew its base seed from them.
    """

    def __init__(self, sampler: Any, skip: int, rng_state: Optional[Dict[str, Any]]) -> None:
        self.sampler = sampler
        self.skip = skip
        self._rng_state = rng_state

    def __iter__(self) -> Iterator[int]:
        if self._rng_state is not None:
            set_rng_state(self._rng_state)
            self._rng_state = None
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return max(len(self.sampler) - self.skip, 0)


def _batches_per_epoch(runner) -> int:
    """Batches of a full epoch (the loop's count: the loader's length may be shortened)."""
    loop = runner.train_loop
    return loop.max_iters // max(loop.max_epochs, 1)


@HOOKS.register_module()
class MidEpochResumeHook(Hook):
    """Continue an ``EpochBasedTrainLoop`` from an iteration checkpoint inside an epoch.

    mmengine's epoch loop restarts the interrupted epoch from its first batch after
    ``--resume`` from a checkpoint saved mid-epoch (``CheckpointHook(by_epoch=False)``):
    the batches done before the checkpoint are trained twice and the iteration counter,
    the iteration-based schedules and the checkpoint numbering run ahead of an
    uninterrupted run. This hook records in every checkpoint where in its epoch it was
    written (``checkpoint['epoch_position']``: batches done, batches per epoch). When a run
    resumes from a checkpoint written after batch ``b`` of an epoch, the first epoch's
    sampler skips the ``b`` batches already trained (the sampler yields the same order as
    before: ``DefaultSampler`` seeds each epoch with seed + epoch), and the random
    generators are put back as the checkpoint left them after the data loader's iterator
    has drawn its seed, so that with ``num_workers=0`` the resumed run repeats the
    uninterrupted one exactly. Dataloader workers (``num_workers > 0``) restart their own
    generators: the same images in the same order, other augmentation draws for the rest of
    that epoch. Checkpoints written at the end of an epoch are unaffected.

    Raises a ``RuntimeError`` when the checkpoint was written mid-epoch but the run now has
    a different number of batches per epoch (other data or batch size), since the epoch
    cannot be continued then.
    """

    priority = 'LOWEST'  # before_train after RNGStateHook restored the generators

    def __init__(self) -> None:
        self._position: Optional[Dict[str, int]] = None
        self._skip = 0
        self._rng: Optional[Dict[str, Any]] = None
        self._patched: Optional[tuple] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            return
        meta = checkpoint.get('meta', {})
        per_epoch = _batches_per_epoch(runner)
        done = int(meta.get('iter', runner.iter)) - int(meta.get('epoch', runner.epoch)) * per_epoch
        checkpoint[POSITION_KEY] = dict(batches_done=done, batches_per_epoch=per_epoch)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if getattr(runner, '_resume', False):
            self._position = checkpoint.get(POSITION_KEY)

    def before_train(self, runner) -> None:
        position, self._position = self._position, None
        if position is None or not isinstance(runner.train_loop, EpochBasedTrainLoop):
            return
        done, saved_per_epoch = int(position['batches_done']), int(position['batches_per_epoch'])
        if done <= 0:
            return
        per_epoch = _batches_per_epoch(runner)
        if per_epoch != saved_per_epoch or done > per_epoch:
            raise RuntimeError(
                f'MidEpochResumeHook: the checkpoint was written after batch {done} of '
                f'{saved_per_epoch} of epoch {runner.epoch + 1}, but this run has {per_epoch} '
                'batches per epoch (other data, batch size or number of processes), so that '
                'epoch cannot be continued. Resume from an end-of-epoch checkpoint '
                '(epoch_N.pth) or with the data and batch size of the interrupted run.'
            )
        self._skip = done
        self._rng = get_rng_state()

    @property
    def batches_to_skip(self) -> int:
        """Batches of the coming epoch that the checkpoint had already trained (0 if none)."""
        return self._skip

    def before_train_epoch(self, runner) -> None:
        if self._skip <= 0:
            return
        loader = runner.train_loop.dataloader
        batch_sampler = getattr(loader, 'batch_sampler', None)
        sampler = getattr(batch_sampler, 'sampler', None)
        batch_size = getattr(batch_sampler, 'batch_size', None) or loader.batch_size
        if sampler is None or not batch_size:
            raise RuntimeError(
                'MidEpochResumeHook: cannot skip the batches trained before the checkpoint: '
                f'the training data loader has no batch_sampler.sampler ({type(loader)}). '
                'Resume from an end-of-epoch checkpoint (epoch_N.pth) instead.'
            )
        batch_sampler.sampler = _SkipFirst(sampler, self._skip * batch_size, self._rng)
        self._patched = (batch_sampler, sampler)
        runner.logger.info(
            f'MidEpochResumeHook: continuing epoch {runner.epoch + 1} after its first '
            f'{self._skip} batches (trained before the checkpoint).'
        )
        self._skip, self._rng = 0, None

    def after_train_epoch(self, runner) -> None:
        if self._patched is not None:
            batch_sampler, sampler = self._patched
            batch_sampler.sampler = sampler
            self._patched = None


def batches_to_skip(runner) -> int:
    """Batches of the coming epoch already trained before a mid-epoch checkpoint (0 if none)."""
    for hook in getattr(runner, 'hooks', []):
        if isinstance(hook, MidEpochResumeHook):
            return hook.batches_to_skip
    return 0
