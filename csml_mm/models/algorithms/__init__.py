from .csml import CsMl

__all__ = ['CsMl']
