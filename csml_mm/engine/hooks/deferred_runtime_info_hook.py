"""mmengine's ``RuntimeInfoHook`` that reads the logged values from the device once per
logging interval instead of once per value per iteration."""

from typing import Dict, List, Optional

import torch
from mmengine.hooks import LoggerHook, RuntimeInfoHook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class DeferredRuntimeInfoHook(RuntimeInfoHook):
    """``RuntimeInfoHook`` without a device-to-host read in every training iteration.

    mmengine's hook hands each logged value of every iteration to the message hub, which
    calls ``.item()`` on it: on a GPU one synchronisation per value per iteration. Here the
    values stay on the device (detached) until the logger will read them, at its interval
    and at the end of an epoch (and before a checkpoint or the end of training); then all
    of them are read in one transfer and passed to the message hub in their order. The
    message hub ends up with the same values at the same iterations as with mmengine's
    hook, so the logged window means are unchanged.

    Args:
        interval: Read every ``interval`` iterations; by default the ``LoggerHook``'s.
    """

    def __init__(self, interval: Optional[int] = None) -> None:
        self.interval = interval
        self._pending: List[Dict[str, object]] = []

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self.interval is None:
            logger = next((h for h in runner.hooks if isinstance(h, LoggerHook)), None)
            self.interval = int(getattr(logger, 'interval', 1) or 1)

    def after_train_iter(
        self, runner, batch_idx: int, data_batch=None, outputs: Optional[dict] = None
    ) -> None:
        if outputs is not None:
            self._pending.append(
                {k: v.detach() if torch.is_tensor(v) else v for k, v in outputs.items()}
            )
        if (
            self.every_n_inner_iters(batch_idx, self.interval)
            or self.every_n_train_iters(runner, self.interval)
            or self.end_of_epoch(runner.train_dataloader, batch_idx)
            or runner.iter + 1 >= runner.max_iters
        ):
            self.flush(runner)

    def flush(self, runner) -> None:
        """Pass every pending value to the message hub (one device-to-host read)."""
        if not self._pending:
            return
        tensors = [v for step in self._pending for v in step.values() if torch.is_tensor(v)]
        values = iter([])
        if tensors:
            device = tensors[0].device
            values = iter(
                torch.stack([t.reshape(-1)[0].float().to(device) for t in tensors]).tolist()
            )
        pending, self._pending = self._pending, []
        for step in pending:
            for key, value in step.items():
                runner.message_hub.update_scalar(
                    f'train/{key}', next(values) if torch.is_tensor(value) else value
                )

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self.flush(runner)

    def after_train_epoch(self, runner) -> None:
        self.flush(runner)

    def after_train(self, runner) -> None:
        self.flush(runner)
        super().after_train(runner)
