from .hooks import *  # noqa: F401,F403
from .model_wrappers import CsmlDistributedDataParallel

__all__ = ['CsmlDistributedDataParallel']
