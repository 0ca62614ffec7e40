# APS on the embedded DigitsComposite data: a CPU-sized run (minutes on 2 cores).
# ViT shrunk for the CPU [DESIGN]: 4 blocks, 64-d, 4 heads, MLP 256, patch 4 on 32 px
# (8 x 8 grid), 4 rounds of 16 patches per view. Projector/predictor keep the APS
# pattern (3 layers, affine-free last BN) at 256 hidden / 64 out.
_base_ = [
    '../_base_/datasets/digits_bs64_aps.py',
    '../_base_/models/aps_vit-d4w64-p4.py',
    '../_base_/schedules/adamw_aps_cpu.py',
    '../_base_/default_runtime.py',
]
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2),
    dict(type='CosineAnnealingLR', T_max=10, by_epoch=True, begin=2, end=12),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12)
auto_scale_lr = dict(base_batch_size=64)
model_wrapper_cfg = dict(type='MultiStepDistributedDataParallel')
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=4, max_keep_ckpts=2))
custom_hooks = [
    dict(
        type='KNNEvalHook',
        interval=4,
        topk=(20, 200),
        temperature=0.1,
        train_dataloader={{_base_.knn_cfg.train_dataloader}},
        val_dataloader={{_base_.knn_cfg.val_dataloader}},
    )
]
