from .aps import APS  # noqa: F401
from .csml import CsMl
from .wcl import WCL  # noqa: F401

__all__ = ['CsMl']
