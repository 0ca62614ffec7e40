"""Stop (or skip the step) with a clear message when the loss or a gradient stops being finite.

The hook installs :mod:`csml_mm.engine.optim_guard` on the runner's optimizer wrapper before
training, so a step whose loss or gradient is NaN/Inf is never applied, whatever the algorithm.
After each iteration it reads what the guard saw and the logged loss terms, and

- ``mode='raise'`` (default): raises :class:`~csml_mm.utils.errors.NonFiniteTrainingError`
  naming the epoch, the iteration, every loss term and the last good checkpoint on disk;
- ``mode='skip'``: logs the skipped step and the running count (also kept in the message
  hub's runtime info ``nonfinite_skipped_steps``) and stops after ``max_consecutive_skips``
  iterations in a row were skipped, or as soon as the bad forward pass left NaN/Inf in a buffer
  (BatchNorm statistics, a queue), which skipping the step cannot undo.

In both modes no checkpoint with a NaN/Inf tensor is written (``before_save_checkpoint``), and a
``FloatingPointError`` that a model raises in its forward pass (WCL checks its projections)
stops the run with the same context (iteration, last good checkpoint).
"""

import math
from functools import partial
from typing import List, Optional

import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from csml_mm.engine.optim_guard import install_nonfinite_guard
from csml_mm.utils.checkpoint_discovery import newest_complete_checkpoint
from csml_mm.utils.errors import NonFiniteTrainingError

_FIXES = (
    'Try a lower learning rate (optim_wrapper.optimizer.lr), gradient clipping '
    '(optim_wrapper.clip_grad=dict(max_norm=...)), a longer warm-up, or --amp off'
)


def last_good_checkpoint(runner) -> Optional[str]:
    """The checkpoint ``tools/train.py --resume`` would continue this run from, or None.

    The same rule as ``--resume``, applied to the runner's work dir
    (:func:`~csml_mm.utils.checkpoint_discovery.newest_complete_checkpoint`): the file
    ``last_checkpoint`` names when it is complete, else the newest complete ``epoch_N.pth`` /
    ``iter_N.pth``.

    Args:
        runner: The runner (only its ``work_dir`` is read).

    Returns:
        Optional[str]: The checkpoint's path, or None when there is no complete one.
    """
    work_dir = getattr(runner, 'work_dir', None)
    if not isinstance(work_dir, str):
        return None
    try:
        return newest_complete_checkpoint(work_dir)
    except OSError:  # the work dir or a checkpoint changed meanwhile (max_keep_ckpts)
        return None


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Keep NaN/Inf losses and gradients out of the weights; stop or skip with a clear message.

    mmengine's ``CheckInvalidLossHook`` only checks every 50 iterations, after the optimizer
    step has already written the NaN into the weights, and does not say what to try.

    Args:
        interval: Where no optimizer wrapper is guarded, check the logged loss terms every
            ``interval`` iterations. Guarded optimizer steps are checked every iteration
            regardless, and their loss terms are then only read to describe a bad step.
            Defaults to 1.
        mode: ``'raise'`` stops at the first non-finite loss or gradient; ``'skip'`` drops
            that optimizer step, logs it and goes on. Defaults to ``'raise'``.
        max_consecutive_skips: In ``'skip'`` mode, stop once this many iterations in a row
            were skipped; also the limit for consecutive steps skipped by an AMP loss scaler.
            Defaults to 10.
        check_grads: Also check the gradients before each step (skipped while an AMP
            ``GradScaler`` is active, which checks them itself). Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(
        self,
        interval: int = 1,
        mode: str = 'raise',
        max_consecutive_skips: int = 10,
        check_grads: bool = True,
    ) -> None:
        if mode not in ('raise', 'skip'):
            raise ValueError(f"NonFiniteLossHook: mode must be 'raise' or 'skip', got {mode!r}.")
        if max_consecutive_skips < 1:
            raise ValueError(
                'NonFiniteLossHook: max_consecutive_skips must be >= 1, got '
                f'{max_consecutive_skips}.'
            )
        self.interval = interval
        self.mode = mode
        self.max_consecutive_skips = max_consecutive_skips
        self.check_grads = check_grads
        self._wrappers: List = []
        self.skipped_steps = 0
        self.consecutive = 0
        self.scaler_skips = 0
        self.scaler_consecutive = 0

    # ------------------------------------------------------------------ setup
    def before_train(self, runner) -> None:
        self._wrappers = install_nonfinite_guard(
            runner.optim_wrapper, self.check_grads, describe=partial(self._in_forward, runner)
        )
        hub = getattr(runner, 'message_hub', None)
        if hub is not None:  # the count survives --resume
            self.skipped_steps = int(hub.get_info('nonfinite_skipped_steps', 0) or 0)
        runner.logger.info(
            f'NonFiniteLossHook: mode={self.mode!r}; optimizer steps with a NaN/Inf loss or '
            'gradient are not applied'
            + (f', at most {self.max_consecutive_skips} in a row' if self.mode == 'skip' else '')
        )

    # -------------------------------------------------------------- messages
    def _where(self, runner, batch_idx: Optional[int]) -> str:
        where = f'epoch {runner.epoch + 1}, iteration {runner.iter + 1}'
        return where + (f' (batch {batch_idx + 1} of the epoch)' if batch_idx is not None else '')

    def _last_checkpoint_text(self, runner) -> str:
        path = last_good_checkpoint(runner)
        if path is None:
            return (
                'Last good checkpoint: none yet (no complete epoch_*.pth/iter_*.pth to '
                'resume from).'
            )
        return (
            f'Last good checkpoint: {path} (resume from it with tools/train.py CONFIG '
            f'--resume {path}).'
        )

    def _in_forward(self, runner, message: str) -> str:
        """The full message for a FloatingPointError raised inside the forward pass."""
        full = (
            f'Non-finite values in the forward pass at {self._where(runner, None)}: '
            f'{message} The optimizer step was not taken (there is no loss to skip, so '
            f'this stops a run in skip mode too). {self._last_checkpoint_text(runner)}'
        )
        logger = getattr(runner, 'logger', None)
        if logger is not None:
            logger.error(full)
        return full

    def _fail(self, runner, message: str) -> None:
        logger = getattr(runner, 'logger', None)
        if logger is not None:
            logger.error(message)
        raise NonFiniteTrainingError(message)

    # ------------------------------------------------------------ each step
    def after_train_iter(
        self, runner, batch_idx: int, data_batch=None, outputs: Optional[dict] = None
    ) -> None:
        events: List[str] = []
        scaler_skips = 0
        for wrapper in self._wrappers:
            events += wrapper.guard_events
            wrapper.guard_events = []
            scaler_skips += wrapper.guard_scaler_skips
            wrapper.guard_scaler_skips = 0
        terms = {}
        # The guarded optimizer steps already saw the summed loss (every logged 'loss' term is
        # part of it) without a host read of their own: read the terms (a device-to-host
        # sync) only to describe a step that went wrong, or where no wrapper is guarded.
        read_terms = bool(events) or not self._wrappers
        if outputs and read_terms and self.every_n_train_iters(runner, self.interval):
            terms = {
                k: float(v.detach()) if torch.is_tensor(v) else float(v)
                for k, v in outputs.items()
                if 'loss' in k
            }
        bad_terms = {k: v for k, v in terms.items() if not math.isfinite(v)}
        self._count_scaler_skips(runner, scaler_skips)
        if not events and not bad_terms:
            self.consecutive = 0
            return

        shown = ', '.join(f'{k}={v:.6g}' for k, v in terms.items()) or 'not logged'
        kind = 'gradient' if events and all(e == 'gradient' for e in events) else 'loss'
        head = f'Non-finite {kind} at {self._where(runner, batch_idx)}: loss terms {{{shown}}}'
        if any(e == 'loss on another process' for e in events):
            head += ' (non-finite on another process)'
        if not events:  # nothing stopped the step: no guard on this optimizer wrapper
            self._fail(
                runner,
                f'{head}. The optimizer step may already have been applied '
                '(its optimizer wrapper is not guarded), so the weights in memory may be '
                f'NaN. {self._last_checkpoint_text(runner)} {_FIXES}.',
            )
        if self.mode == 'raise':
            self._fail(
                runner,
                f'{head}. The optimizer step was not applied, so the weights '
                f'are still finite. {self._last_checkpoint_text(runner)} {_FIXES}; or '
                'skip such steps with --cfg-options default_hooks.check_loss.mode=skip.',
            )

        self.skipped_steps += len(events)
        self.consecutive += 1
        hub = getattr(runner, 'message_hub', None)
        if hub is not None:
            hub.update_info('nonfinite_skipped_steps', self.skipped_steps)
        runner.logger.warning(
            f'NonFiniteLossHook: skipped {len(events)} optimizer step(s): {head}. Skipped '
            f'steps so far: {self.skipped_steps} ({self.consecutive} iteration(s) in a row).'
        )
        bad_buffer = self._non_finite_buffer(runner)
        if bad_buffer is not None:
            self._fail(
                runner,
                f'{head}. The step was skipped, but the forward pass left NaN/Inf '
                f'in the buffer {bad_buffer!r} (e.g. BatchNorm statistics or a queue), '
                f'which skipping cannot undo. {self._last_checkpoint_text(runner)} '
                f'{_FIXES}.',
            )
        if self.consecutive >= self.max_consecutive_skips:
            self._fail(
                runner,
                f'{head}. {self.consecutive} iterations in a row had a '
                f'non-finite loss or gradient (max_consecutive_skips='
                f'{self.max_consecutive_skips}): training has diverged. '
                f'{self._last_checkpoint_text(runner)} {_FIXES}.',
            )

    def _count_scaler_skips(self, runner, skips: int) -> None:
        """Steps an AMP GradScaler skipped (inf/NaN gradients): fine now and then, fatal when
        it keeps happening (the scale collapses and nothing is learnt)."""
        if not skips:
            self.scaler_consecutive = 0
            return
        self.scaler_skips += skips
        self.scaler_consecutive += 1
        hub = getattr(runner, 'message_hub', None)
        if hub is not None:
            hub.update_info('amp_scaler_skipped_steps', self.scaler_skips)
        if self.scaler_consecutive >= self.max_consecutive_skips:
            self._fail(
                runner,
                f'Non-finite gradient at {self._where(runner, None)}: the AMP loss '
                f'scaler skipped the optimizer step in {self.scaler_consecutive} '
                'iterations in a row (inf/NaN gradients even at a reduced loss scale). '
                f'{self._last_checkpoint_text(runner)} {_FIXES}.',
            )

    @staticmethod
    def _non_finite_buffer(runner) -> Optional[str]:
        model = getattr(runner, 'model', None)
        if model is None:
            return None
        for name, buf in model.named_buffers():
            if buf.is_floating_point() and not bool(torch.isfinite(buf).all()):
                return name
        return None

    # ------------------------------------------------------------ checkpoints
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Refuse to write a checkpoint whose state dict holds NaN/Inf."""
        state = checkpoint.get('state_dict', {}) if isinstance(checkpoint, dict) else {}
        bad = [
            k
            for k, v in state.items()
            if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all())
        ]
        if bad:
            shown = ', '.join(bad[:5]) + (f' (+{len(bad) - 5} more)' if len(bad) > 5 else '')
            self._fail(
                runner,
                f'Refusing to write a checkpoint at {self._where(runner, None)}: '
                f'non-finite values in {shown}. {self._last_checkpoint_text(runner)} '
                f'{_FIXES}.',
            )

    def after_train(self, runner) -> None:
        if self.skipped_steps or self.scaler_skips:
            runner.logger.info(
                f'NonFiniteLossHook: {self.skipped_steps} optimizer step(s) skipped for a '
                f'non-finite loss or gradient; {self.scaler_skips} skipped by the AMP loss '
                'scaler.'
            )
