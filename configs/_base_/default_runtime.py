# Runtime shared by every csml_mm config.
default_scope = 'mmpretrain'
# Registers csml_mm's modules, its safe checkpoint loader and atomic checkpoint writes;
# also makes these configs work under `mim train mmpretrain` and mmdet's tools.
custom_imports = dict(imports=['csml_mm'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # Stops at the first NaN/Inf loss with a message that names the usual fixes.
    check_loss=dict(type='NonFiniteLossHook'),
    # Saves/restores the random generators so that --resume continues the same stream.
    rng_state=dict(type='RNGStateHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches this to gloo on machines without CUDA.
    dist_cfg=dict(backend='nccl'),
)
# Same as mmengine's default DDP wrapper on GPU; also accepts CPU modules (gloo).
model_wrapper_cfg = dict(type='CsmlDistributedDataParallel')

vis_backends = [dict(type='LocalVisBackend')]  # add dict(type='TensorboardVisBackend')
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_processor = dict(window_size=10)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, diff_rank_seed=True, deterministic=False)
