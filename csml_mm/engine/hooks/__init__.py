from .knn_eval_hook import KNNEvalHook
from .neighbour_mining_hook import NeighbourMiningHook
from .nonfinite_loss_hook import NonFiniteLossHook
from .rng_state_hook import RNGStateHook

__all__ = ['KNNEvalHook', 'NeighbourMiningHook', 'NonFiniteLossHook', 'RNGStateHook']
