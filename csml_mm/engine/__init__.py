from .hooks import *  # noqa: F401,F403
from .model_wrappers import CsmlDistributedDataParallel, MultiStepDistributedDataParallel
from .optimizers import DeviceLARS  # noqa: F401

__all__ = ['CsmlDistributedDataParallel', 'MultiStepDistributedDataParallel']
