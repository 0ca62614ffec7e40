"""Mixed-precision optimizer wrapper that runs on GPUs and CPUs and picks the precision."""

from contextlib import contextmanager
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS as ENGINE_OPTIM_WRAPPERS
from mmpretrain.registry import OPTIM_WRAPPERS

_DTYPES = {'float16': torch.float16, 'bfloat16': torch.bfloat16}


def resolve_amp_dtype(dtype: Union[str, torch.dtype, None], device_type: str) -> torch.dtype:
    """``'auto'``/``None``: bfloat16 where the device computes it (CPUs; GPUs that report bf16
    support), else float16; a name or dtype is taken as given."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, 'auto'):
        if device_type == 'cuda' and not torch.cuda.is_bf16_supported():
            return torch.float16
        return torch.bfloat16
    if dtype not in _DTYPES:
        raise ValueError(
            f"MixedPrecisionOptimWrapper: dtype must be 'auto', 'bfloat16' or "
            f"'float16', got {dtype!r}."
        )
    return _DTYPES[dtype]


@OPTIM_WRAPPERS.register_module()
class MixedPrecisionOptimWrapper(AmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` (autocast forward, optional loss scaling, the scaler's
    state saved in checkpoints) without its GPU-only assertion.

    - ``dtype='auto'`` (default): bfloat16 where the device supports it (CPUs, Ampere and
      later GPUs), float16 otherwise.
    - The loss scaler (``torch.amp.GradScaler`` of the parameters' device) is enabled only for
      float16, where small gradients underflow; bfloat16 has float32's range and needs none.
      ``loss_scale``: ``'dynamic'``, a float (static) or a dict of ``GradScaler`` arguments.
    - The heads compute their similarities and log-sum-exps in float32 whatever the
      autocast (they disable it locally).

    ``tools/train.py --amp`` selects this wrapper for configs whose ``optim_wrapper.type`` is
    ``OptimWrapper`` or ``AmpOptimWrapper``.
    """

    def __init__(
        self,
        loss_scale: Union[str, float, dict] = 'dynamic',
        dtype: Union[str, torch.dtype, None] = 'auto',
        **kwargs,
    ) -> None:
        OptimWrapper.__init__(self, **kwargs)  # AmpOptimWrapper.__init__ asserts a GPU
        params = [p for g in self.optimizer.param_groups for p in g['params']]
        self.device_type = params[0].device.type if params else 'cpu'
        self.cast_dtype = resolve_amp_dtype(dtype, self.device_type)
        scaling = self.cast_dtype == torch.float16
        self._scale_update_param: Optional[float] = None
        if loss_scale == 'dynamic':
            scaler_args = {}
        elif isinstance(loss_scale, (int, float)):
            self._scale_update_param = float(loss_scale)
            scaler_args = dict(init_scale=float(loss_scale))
        elif isinstance(loss_scale, dict):
            scaler_args = dict(loss_scale)
        else:
            raise TypeError(f'loss_scale must be "dynamic", a float or a dict, got {loss_scale!r}')
        self.loss_scaler = torch.amp.GradScaler(self.device_type, enabled=scaling, **scaler_args)

    @contextmanager
    def optim_context(self, model: nn.Module):
        with (
            OptimWrapper.optim_context(self, model),
            torch.autocast(device_type=self.device_type, dtype=self.cast_dtype),
        ):
            yield


if 'MixedPrecisionOptimWrapper' not in ENGINE_OPTIM_WRAPPERS.module_dict:
    # mmengine's own registry too, for runners built outside the mmpretrain scope
    ENGINE_OPTIM_WRAPPERS.register_module(module=MixedPrecisionOptimWrapper)
