"""DDP wrappers that work for CPU modules as well as GPU ones."""

from typing import Any, Dict, Union

import torch
import torch.nn as nn
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from mmengine.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CsmlDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that drops ``device_ids`` for CPU modules.

    mmengine's Runner always passes ``device_ids=[LOCAL_RANK]``, which torch rejects
    for a module on the CPU, so distributed training on a machine without a GPU
    (gloo) fails. On GPU this class behaves exactly like its parent. Like mmengine's
    default wrapper, ``broadcast_buffers`` defaults to False.
    Registered in mmengine's root registry so every scope finds it.
    """

    def __init__(
        self, module: nn.Module, detect_anomalous_params: bool = False, **kwargs: Any
    ) -> None:
        first = next(iter(module.parameters()), None)
        if first is None or not first.is_cuda:
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        kwargs.setdefault('broadcast_buffers', False)
        super().__init__(module, detect_anomalous_params=detect_anomalous_params, **kwargs)


@MODEL_WRAPPERS.register_module()
class MultiStepDistributedDataParallel(CsmlDistributedDataParallel):
    """DDP wrapper that lets the module run its own (multi-step) ``train_step``.

    mmengine's ``MMDistributedDataParallel.train_step`` does one forward and one
    optimiser step and never calls the module's ``train_step``. This wrapper
    calls ``module.train_step(data, optim_wrapper, runner_model=self)``, so a
    module like :class:`APS` can take several optimiser steps per batch while
    its losses still run through DDP's forward (gradient all-reduce). Works on
    CPU (gloo) and GPU like :class:`CsmlDistributedDataParallel`.
    """

    def train_step(
        self, data: Union[dict, tuple, list], optim_wrapper: OptimWrapper
    ) -> Dict[str, torch.Tensor]:
        return self.module.train_step(data, optim_wrapper, runner_model=self)
