from .multi_level_projection_neck import MultiLevelProjectionNeck

__all__ = ['MultiLevelProjectionNeck']
