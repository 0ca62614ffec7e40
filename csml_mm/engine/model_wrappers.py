"""A DDP wrapper that works for CPU modules as well as GPU ones."""
from typing import Any

import torch.nn as nn
from mmengine.model import MMDistributedDataParallel
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

    def __init__(self, module: nn.Module, detect_anomalous_params: bool = False,
                 **kwargs: Any) -> None:
        first = next(iter(module.parameters()), None)
        if first is None or not first.is_cuda:
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        kwargs.setdefault('broadcast_buffers', False)
        super().__init__(module, detect_anomalous_params=detect_anomalous_params, **kwargs)
