"""csml_mm: cross-sample, multi-positive and asymmetric contrastive learning for mmpretrain.

Importing the package registers its datasets, transforms, models and hooks into
mmpretrain's registries, routes mmengine's local checkpoint loading through a
``weights_only=True`` loader with an explicit allow-list, and makes checkpoint
writes atomic, and fixes mmcv 2.1's hue jitter on numpy 2.
"""

import warnings

# mmcv-lite (the main job's stack, no compiled ops) warns at import that one detection op is
# missing; a detection tool run on that stack says so itself (csml_mm.utils.stack)
warnings.filterwarnings('ignore', message=r'Fail to import ``MultiScaleDeformableAttention``')
# mmcv's adjust_color warns at every call of mmpretrain's ColorJitter (pillow backend), that
# is for every image of every batch, about a parameter that ColorJitter never passes
warnings.filterwarnings('ignore', message="Only use 'alpha' for pillow backend")

from .utils.checkpoint import install_checkpoint_io  # noqa: E402
from .utils.compat import patch_mmcv_for_numpy2  # noqa: E402
from .version import __version__  # noqa: E402

install_checkpoint_io()
patch_mmcv_for_numpy2()  # mmcv 2.1's adjust_hue overflows on numpy 2 (see utils/compat.py)

from . import (  # noqa: E402,F401
    datasets,
    engine,
    evaluation,
    mmdet_plugins,  # noqa: E402,F401  (registers into mmdet; no-op without it)
    models,
)

__all__ = ['__version__']
