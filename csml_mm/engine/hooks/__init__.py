from .knn_eval_hook import KNNEvalHook
from .neighbour_mining_hook import NeighbourMiningHook
from .nonfinite_loss_hook import NonFiniteLossHook
from .pipeline_switch_hook import PipelineSwitchHook  # noqa: F401
from .rng_state_hook import RNGStateHook

__all__ = ['KNNEvalHook', 'NeighbourMiningHook', 'NonFiniteLossHook', 'RNGStateHook']
