"""Modules for transferring csml_mm backbones to mmdet detectors.

They are registered into mmdet's registries (``mmdet.registry.MODELS`` and
``OPTIM_WRAPPER_CONSTRUCTORS``), so mmdet configs with ``default_scope='mmdet'`` and
``custom_imports=dict(imports=['csml_mm'])`` find them; ``import csml_mm`` imports this
package. mmdet is an optional dependency (``pip install csml_mm[mmdet]``): without it
nothing is registered and ``MMDET_AVAILABLE`` is False.

The C4 shared head with the extra norm (MoCo's ``Res5ROIHeadsExtraNorm``) needs no code
here: mmpretrain already registers ``ResLayerExtraNorm`` into mmdet's ``MODELS``.
"""

try:
    import mmdet.registry  # noqa: F401
except ImportError:  # pragma: no cover - mmdet not installed
    MMDET_AVAILABLE = False
    __all__ = ['MMDET_AVAILABLE']
else:
    MMDET_AVAILABLE = True
    from .layer_decay import ViTLayerDecayOptimWrapperConstructor
    from .simple_feature_pyramid import SimpleFeaturePyramid
    from .vit_backbone import DetVisionTransformer

    __all__ = [
        'MMDET_AVAILABLE',
        'DetVisionTransformer',
        'SimpleFeaturePyramid',
        'ViTLayerDecayOptimWrapperConstructor',
    ]
