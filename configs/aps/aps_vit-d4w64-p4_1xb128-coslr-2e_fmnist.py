# APS on Fashion-MNIST at the CPU budget (docs/results/quality.md). The CPU-sized ViT of the
# digits recipe [DESIGN]: 4 blocks, 64-d, 4 heads, MLP 256, patch 4 on 32 px (8 x 8 grid),
# 4 rounds of 16 patches per view (one AdamW step per round). Baselines in the table: the same
# run with uniform view-2 sampling (pipeline.2.power=0) and with full views
# (pipeline.1.ratio=1, rounds=1: every token, one step per batch).
_base_ = [
    '../_base_/datasets/fmnist_bs128_aps.py',
    '../_base_/models/aps_vit-d4w64-p4.py',
    '../_base_/schedules/adamw_aps_cpu.py',
    '../_base_/default_runtime.py',
]
max_epochs = 2
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1, convert_to_iter_based=True
    ),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 1,
        by_epoch=True,
        begin=1,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
model_wrapper_cfg = dict(type='MultiStepDistributedDataParallel')
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=1, max_keep_ckpts=1))
custom_hooks = [
    dict(
        type='KNNEvalHook',
        interval=1,
        topk=(20,),
        before_train=True,
        train_dataloader={{_base_.monitor_knn_cfg.train_dataloader}},
        val_dataloader={{_base_.monitor_knn_cfg.val_dataloader}},
    )
]
