"""Layer-wise learning-rate decay for detectors with a ViT backbone."""

from functools import partial
from typing import Callable, List, Optional

import torch.nn as nn
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmpretrain.engine.optimizers import LearningRateDecayOptimWrapperConstructor


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ViTLayerDecayOptimWrapperConstructor(LearningRateDecayOptimWrapperConstructor):
    r"""mmpretrain's layer-decay constructor applied to a detector's ViT backbone.

    Layer decay (BEiT, Bao et al. 2022; used by ViTDet): a parameter at depth
    :math:`d` of a ViT with :math:`L` blocks gets the learning rate

    .. math:: \mathrm{lr}_d = \mathrm{lr} \cdot \rho^{\,L + 1 - d},

    with :math:`d = 0` for the patch embedding, class token and position embedding,
    :math:`d = i + 1` for block :math:`i` (0-based) and :math:`d = L + 1` (no decay)
    for the backbone's final norm and every parameter outside the backbone (neck,
    RPN and RoI heads). The depths come from the backbone's ``get_layer_depth``
    (mmpretrain's ``VisionTransformer.get_layer_depth``); mmpretrain's constructor
    asks the *top* module for it, which a detector does not have.

    ``paramwise_cfg`` accepts the keys of
    :class:`mmpretrain.engine.optimizers.LearningRateDecayOptimWrapperConstructor`
    (``layer_decay_rate``, ``norm_decay_mult``, ``bias_decay_mult``,
    ``flat_decay_mult``, ``custom_keys`` with ``decay_mult``).
    """

    def add_params(
        self,
        params: List[dict],
        module: nn.Module,
        prefix: str = '',
        get_layer_depth: Optional[Callable] = None,
        **kwargs,
    ) -> None:
        if get_layer_depth is None and prefix == '' and not hasattr(module, 'get_layer_depth'):
            backbone = getattr(module, 'backbone', None)
            if backbone is None or not hasattr(backbone, 'get_layer_depth'):
                raise TypeError(
                    f'{type(self).__name__} needs a model with a `backbone` that has '
                    f'`get_layer_depth` (e.g. DetVisionTransformer); got '
                    f'{type(module).__name__} with backbone {type(backbone).__name__}. Use '
                    'the default constructor for other backbones.'
                )
            get_layer_depth = partial(backbone.get_layer_depth, prefix='backbone.')
        super().add_params(params, module, prefix=prefix, get_layer_depth=get_layer_depth, **kwargs)
