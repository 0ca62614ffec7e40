# Runtime shared by every csml_mm config.
default_scope = 'mmpretrain'
# Registers csml_mm's modules, its safe checkpoint loader and atomic checkpoint writes;
# also makes these configs work under `mim train mmpretrain` and mmdet's tools.
custom_imports = dict(imports=['csml_mm'], allow_failed_imports=False)

default_hooks = dict(
    # mmengine's RuntimeInfoHook reading the logged values from the device once per logger
    # interval instead of every iteration (one host sync a step fewer on a GPU)
    runtime_info=dict(type='DeferredRuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # CheckpointHook that deletes the outdated checkpoint only after the new one is written
    # (a kill while saving keeps the previous one; docs/reliability.md).
    checkpoint=dict(type='SafeCheckpointHook', interval=10, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # A NaN/Inf loss or gradient never reaches the weights: the run stops naming the iteration,
    # the loss terms and the last good checkpoint (mode='skip': the step is skipped and counted).
    check_loss=dict(type='NonFiniteLossHook'),
    # Saves/restores the random generators so that --resume continues the same stream.
    rng_state=dict(type='RNGStateHook'),
    # Lets --resume continue inside an epoch from an iteration checkpoint (by_epoch=False).
    mid_epoch_resume=dict(type='MidEpochResumeHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches this to gloo on machines without CUDA. timeout: seconds a
    # collective waits for a rank that stopped answering before the job fails with an
    # error naming the collective and the silent ranks (torch's default: 30 min for gloo).
    # Must exceed the longest step one rank does alone (rank-0 kNN eval, checkpoint save).
    dist_cfg=dict(backend='nccl', timeout=600),
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
