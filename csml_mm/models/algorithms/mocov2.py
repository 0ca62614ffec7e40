"""MoCo v2 as mmpretrain implements it, without device-to-host reads in the training step."""

from typing import Optional

import torch
import torch.nn as nn
from mmengine.dist import all_gather
from mmpretrain.models.selfsup.moco import MoCo
from mmpretrain.registry import MODELS

from ..utils.ema import HostStepEMA


@MODELS.register_module()
class MoCoV2(MoCo):
    r"""MoCo v2 (Chen et al., "Improved Baselines with Momentum Contrastive Learning", 2020):
    mmpretrain's ``MoCo`` with the same forward pass, loss, queue and checkpoints.

    InfoNCE over one positive key and the queue's negatives,
    :math:`L = -\log \frac{\exp(q\cdot k^+/\tau)}{\exp(q\cdot k^+/\tau) + \sum_{k^-}
    \exp(q\cdot k^-/\tau)}`, keys from a momentum encoder.

    Two changes, for GPUs: the momentum encoder counts its updates on the host
    (:class:`~csml_mm.models.utils.ema.HostStepEMA`) and the queue's write position is kept
    on the host as well, so a training step reads nothing back from the device
    (mmpretrain's class reads the EMA's step counter twice and the queue pointer once per
    step). Both buffers are still updated and saved; a checkpoint of either class loads
    into the other.
    """

    def __init__(self, *args, **kwargs) -> None:
        if kwargs.get('queue_len') == 'auto':
            raise ValueError(
                "queue_len='auto' is sized from the training set by tools/train.py "
                '(csml_mm.utils.run_size.resolve_auto_queue); building the model '
                'another way, give a number.'
            )
        super().__init__(*args, **kwargs)
        momentum = self.encoder_k.momentum
        self.encoder_k = HostStepEMA(nn.Sequential(self.backbone, self.neck), momentum)
        self._host_ptr: Optional[int] = 0

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._host_ptr = None  # read from the loaded queue_ptr at the next enqueue

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys: torch.Tensor) -> None:
        keys = torch.cat(all_gather(keys), dim=0)
        batch = keys.shape[0]
        if self.queue_len % batch != 0:
            raise ValueError(
                f'MoCoV2: queue_len={self.queue_len} is not a multiple of the global batch '
                f'{batch} (batch per process x processes). Set model.queue_len to a multiple '
                f'of {batch} or change train_dataloader.batch_size.'
            )
        ptr = int(self.queue_ptr) if self._host_ptr is None else self._host_ptr
        self.queue[:, ptr : ptr + batch] = keys.transpose(0, 1)
        self._host_ptr = (ptr + batch) % self.queue_len
        self.queue_ptr.fill_(self._host_ptr)
