"""Stop training with a clear message when the loss stops being finite."""
import math
from typing import Optional

import torch

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise ``FloatingPointError`` as soon as the logged loss is NaN or infinite.

    mmengine's ``CheckInvalidLossHook`` only checks every 50 iterations and does
    not say what to try. This hook checks every ``interval`` iterations (1 by
    default: the loss is already a Python float in ``outputs``) and names the
    usual fixes.
    """
    priority = 'VERY_HIGH'

    def __init__(self, interval: int = 1) -> None:
        self.interval = interval

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        values = {k: float(v.detach()) if torch.is_tensor(v) else float(v)
                  for k, v in outputs.items() if 'loss' in k}
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad:
            raise FloatingPointError(
                f'Non-finite loss at epoch {runner.epoch + 1}, iteration {runner.iter + 1}: '
                f'{bad}. Try a lower learning rate (optim_wrapper.optimizer.lr), gradient '
                'clipping (optim_wrapper.clip_grad=dict(max_norm=...)), or --amp off; resume '
                'from the last checkpoint with --resume.')
