"""Save and restore the random-number generators with each checkpoint."""

import random
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


def get_rng_state() -> Dict[str, Any]:
    """The state of python's, numpy's and torch's (CPU and CUDA) global generators."""
    state = dict(python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    random.setstate(_as_tuple(state['python']))
    np.random.set_state(_as_tuple(state['numpy']))
    torch.set_rng_state(state['torch'].cpu())
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'].cpu())


def _as_tuple(x: Any) -> Any:
    if isinstance(x, list):
        return tuple(_as_tuple(v) for v in x)
    return x


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Make ``--resume`` continue the random stream where the run stopped.

    mmengine checkpoints hold the model, optimizer, schedulers and message hub but
    not the generators behind data augmentation, CutMix boxes or neighbour draws,
    so a resumed run diverges from an uninterrupted one. This hook stores every
    rank's generator states (``checkpoint['rng_state']``, one entry per rank) and,
    when the run resumes with the same world size, restores this rank's entry as
    the very last step before training continues. With a different world size
    the states are not restored (a warning says so).

    With ``num_workers=0`` (or non-persistent workers) a resumed run then
    reproduces the uninterrupted one exactly on CPU; persistent dataloader workers
    keep generators of their own that no checkpoint can hold.
    """

    # mmengine calls ``before_save_checkpoint`` on rank 0 only, so the states of all
    # ranks are gathered (a collective) in after_train_epoch/iter, after the other
    # hooks of that stage (e.g. a kNN monitor) and just before CheckpointHook (90).
    priority = 85

    def __init__(self) -> None:
        self._pending: Optional[List[Dict[str, Any]]] = None
        self._gathered: Optional[List[Dict[str, Any]]] = None

    @staticmethod
    def _checkpoint_hook(runner):
        from mmengine.hooks import CheckpointHook

        return next((h for h in runner.hooks if isinstance(h, CheckpointHook)), None)

    def after_train_epoch(self, runner) -> None:
        self._gathered = all_gather_object(get_rng_state())

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        ckpt = self._checkpoint_hook(runner)
        if ckpt is None or ckpt.by_epoch:
            return
        if self.every_n_train_iters(runner, ckpt.interval) or self.is_last_train_iter(runner):
            self._gathered = all_gather_object(get_rng_state())

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._gathered is not None:
            checkpoint['rng_state'] = self._gathered
            self._gathered = None
        elif get_world_size() == 1:
            checkpoint['rng_state'] = [get_rng_state()]

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if getattr(runner, '_resume', False) and 'rng_state' in checkpoint:
            self._pending = checkpoint['rng_state']

    def before_train(self, runner) -> None:
        # Runs after the hooks of higher priority, i.e. close to the first iteration.
        states, self._pending = self._pending, None
        if states is None:
            return
        if len(states) != get_world_size():
            runner.logger.warning(
                f'RNGStateHook: the checkpoint holds generator states of {len(states)} '
                f'processes but this run has {get_world_size()}; not restoring them.'
            )
            return
        set_rng_state(states[get_rank()])
