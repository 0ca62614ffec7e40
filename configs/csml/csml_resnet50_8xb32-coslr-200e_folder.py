# CsMl (the released recipe of csml_resnet50_8xb32-coslr-200e_in1k.py: MoCo v2 + one mined
# neighbour of K=5, re-mined every 5 epochs, + CutMix) on your own unlabelled images:
# docs/own_data.md. CSML_DATA_ROOT moves the training images and the mining pass together.
#   CSML_DATA_ROOT=/path/to/images [CSML_EVAL_ROOT=/path/to/labelled] \
#       python tools/train.py configs/csml/csml_resnet50_8xb32-coslr-200e_folder.py
_base_ = [
    '../_base_/datasets/folder_bs32_csml.py',
    '../_base_/schedules/sgd_coslr_200e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='CsMl',
    queue_len=65536,  # keep it well below the number of images (docs/own_data.md)
    feat_dim=128,
    momentum=0.001,  # weight of the new parameters (the paper's m = 0.999)
    use_neighbour=True,
    use_cutmix=True,
    cross_weights=(0.5, 0.5),
    cross_warmup_epochs=11,  # the code turns cross-sample weights on after epoch 10
    cutmix_alpha=2.0,
    backbone=dict(type='ResNet', depth=50, out_indices=(3, ),
                  norm_cfg=dict(type='SplitBN', num_splits=8), zero_init_residual=False),
    neck=dict(type='MultiLevelProjectionNeck', in_channels=[2048], hid_channels=2048,
              out_channels=128),
    head=dict(type='MultiPositiveContrastiveHead', temperature=0.2, mode='per_positive'))
custom_hooks = [
    dict(type='NeighbourMiningHook', interval=5, dataloader={{_base_.mining_dataloader}}),
] + _base_.knn_monitor_hooks  # the kNN monitor, only with CSML_EVAL_ROOT
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
