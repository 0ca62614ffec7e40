"""mmengine's ``ExponentialMovingAverage`` without a device read per update."""

from typing import Optional

import torch.nn as nn
from mmengine.model import ExponentialMovingAverage


class HostStepEMA(ExponentialMovingAverage):
    r"""Exponential moving average :math:`\theta_k \leftarrow (1 - m)\,\theta_k + m\,\theta_q`
    (``momentum`` is :math:`m`, the weight of the new parameters, as in mmengine).

    mmengine's class tests its ``steps`` buffer (``steps == 0``, ``steps % interval``) at
    every update, which on a GPU reads the buffer back to the host: two synchronisations a
    training step. Here a host copy of the counter decides; the buffer is still advanced
    (on the device, no read) and saved, so checkpoints are unchanged and interchangeable
    with mmengine's. After a checkpoint is loaded the host copy is read from the buffer
    once, at the next update.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._host_steps: Optional[int] = 0

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._host_steps = None  # re-read from the loaded buffer at the next update

    def update_parameters(self, model: nn.Module) -> None:
        if self._host_steps is None:
            self._host_steps = int(self.steps)
        src = model.state_dict() if self.update_buffers else dict(model.named_parameters())
        if self._host_steps == 0:
            for k, p_avg in self.avg_parameters.items():
                p_avg.data.copy_(src[k].data)
        elif self._host_steps % self.interval == 0:
            for k, p_avg in self.avg_parameters.items():
                if p_avg.dtype.is_floating_point:
                    self.avg_func(p_avg.data, src[k].data.to(p_avg.device), self.steps)
        if not self.update_buffers:
            for b_avg, b_src in zip(self.module.buffers(), model.buffers()):
                b_avg.data.copy_(b_src.data.to(b_avg.device))
        self.steps += 1
        self._host_steps += 1
