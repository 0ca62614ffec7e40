from .aps import APS  # noqa: F401
from .csml import CsMl
from .mocov2 import MoCoV2
from .wcl import WCL  # noqa: F401

__all__ = ['CsMl', 'MoCoV2']
