# APS for your own folder on one machine (docs/own_data.md, the small recipes): the CPU ViT of
# the Fashion-MNIST recipe (./aps_vit-d4w64-p4_1xb128-coslr-2e_fmnist.py: 4 blocks of width 64,
# 4 heads, AdamW 1e-3 with a one-epoch warm-up and cosine decay, BN1d heads) on 64 px images
# cut into 8-px patches (the same 8 x 8 grid as the Fashion-MNIST recipe's 4-px patches of
# 32 px), at the small ResNet recipes' 60 epochs (docs/results/own_data.md).
#   CSML_DATA_ROOT=/path/to/images [CSML_EVAL_ROOT=/path/to/labelled] \
#       python tools/train.py configs/aps/aps_vit-d4w64-p8_1xb128-64px-coslr-60e_folder.py
_base_ = [
    '../_base_/datasets/folder64_bs128_aps.py',
    '../_base_/models/aps_vit-d4w64-p4.py',
    '../_base_/schedules/adamw_aps_cpu.py',
    '../_base_/default_runtime.py',
]
# the same 8 x 8 grid at 64 px: 8-px patches
model = dict(backbone=dict(img_size=64, patch_size=8))
max_epochs = 60
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
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=10, max_keep_ckpts=1))
custom_hooks = list(_base_.knn_monitor_hooks)  # the kNN monitor, only with CSML_EVAL_ROOT
