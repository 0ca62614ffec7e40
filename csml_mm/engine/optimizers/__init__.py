from .device_lars import DeviceLARS
from .mixed_precision import MixedPrecisionOptimWrapper, resolve_amp_dtype

__all__ = ['DeviceLARS', 'MixedPrecisionOptimWrapper', 'resolve_amp_dtype']
