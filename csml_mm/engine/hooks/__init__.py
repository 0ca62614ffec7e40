from .deferred_runtime_info_hook import DeferredRuntimeInfoHook
from .first_steps_log_hook import FirstStepsLogHook
from .knn_eval_hook import KNNEvalHook
from .mid_epoch_resume_hook import MidEpochResumeHook
from .neighbour_mining_hook import NeighbourMiningHook
from .nonfinite_loss_hook import NonFiniteLossHook
from .pipeline_switch_hook import PipelineSwitchHook  # noqa: F401
from .rng_state_hook import RNGStateHook
from .safe_checkpoint_hook import SafeCheckpointHook
from .skipped_images_hook import SkippedImagesHook

__all__ = [
    'DeferredRuntimeInfoHook',
    'FirstStepsLogHook',
    'KNNEvalHook',
    'MidEpochResumeHook',
    'NeighbourMiningHook',
    'NonFiniteLossHook',
    'RNGStateHook',
    'SafeCheckpointHook',
    'SkippedImagesHook',
]
