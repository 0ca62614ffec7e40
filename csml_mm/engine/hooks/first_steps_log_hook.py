"""Say that training runs before the first regular log line.

mmengine's ``LoggerHook`` writes a line every ``interval`` iterations (50 in our configs). On a
CPU, or with large images, 50 iterations can take many minutes, and a user cannot tell a slow
run from a hung one. This hook logs the first iteration as soon as it is done, then a line at
least every ``every`` seconds, until the logger's own first line: iteration, seconds per
iteration so far, time left at that pace, and the loss.
"""

import time
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class FirstStepsLogHook(Hook):
    """Log the first training iterations until the ``LoggerHook`` takes over.

    Args:
        every: Seconds between two lines after the first one. Default 10.
    """

    priority = 'BELOW_NORMAL'

    def __init__(self, every: float = 10.0) -> None:
        self.every = float(every)
        self._start: Optional[float] = None
        self._last = 0.0
        self._first_iter = 0

    def before_train(self, runner) -> None:
        self._start = None
        self._first_iter = runner.iter  # a resumed run starts later

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._start is None:
            self._start = time.time()

    def _logger_interval(self, runner) -> int:
        hook = next((h for h in runner.hooks if type(h).__name__ == 'LoggerHook'), None)
        return int(getattr(hook, 'interval', 0) or 0)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        done = runner.iter + 1 - self._first_iter  # iterations of this run so far
        interval = self._logger_interval(runner)
        if interval and done >= interval:
            return  # the logger's lines have started
        now = time.time()
        if done > 1 and now - self._last < self.every:
            return
        self._last = now
        per_iter = (now - self._start) / done
        left = max(runner.max_iters - runner.iter - 1, 0) * per_iter
        # from this step's outputs: the message hub may only receive the logged values at
        # the logger's interval (DeferredRuntimeInfoHook); one host read, on the lines shown
        value = (outputs or {}).get('loss')
        loss = float(value.detach()) if torch.is_tensor(value) else value
        shown = f', loss {loss:.4f}' if loss is not None else ''
        runner.logger.info(
            f'[first steps] iteration {runner.iter + 1}/{runner.max_iters}: {per_iter:.2f} s '
            f'an iteration so far, {left / 60:.0f} min left at this pace{shown} (the regular '
            f'log line comes every {interval} iterations)'
        )
