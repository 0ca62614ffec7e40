from .hooks import *  # noqa: F401,F403
from .model_wrappers import CsmlDistributedDataParallel, MultiStepDistributedDataParallel

__all__ = ['CsmlDistributedDataParallel', 'MultiStepDistributedDataParallel']
