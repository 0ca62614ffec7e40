"""Algorithms, necks and heads (registered into mmpretrain.registry.MODELS)."""

from . import utils  # noqa: F401,E402  (PretrainedBackbone weight initializer)
from .algorithms import *  # noqa: F401,F403
from .backbones import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
