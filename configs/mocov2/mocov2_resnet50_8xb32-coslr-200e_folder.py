# MoCo v2 (the ImageNet recipe of mocov2_resnet50_8xb32-coslr-200e_in1k.py) on your own
# unlabelled images: docs/own_data.md.
#   CSML_DATA_ROOT=/path/to/images [CSML_EVAL_ROOT=/path/to/labelled] \
#       python tools/train.py configs/mocov2/mocov2_resnet50_8xb32-coslr-200e_folder.py
_base_ = [
    '../_base_/datasets/folder_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_200e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='MoCoV2',
    queue_len=65536,  # keep it well below the number of images (docs/own_data.md)
    feat_dim=128,
    momentum=0.001,  # weight of the new parameters (the paper's m = 0.999)
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='SplitBN', num_splits=8),
                  zero_init_residual=False),
    neck=dict(type='MoCoV2Neck', in_channels=2048, hid_channels=2048, out_channels=128,
              with_avg_pool=True),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2))
custom_hooks = list(_base_.knn_monitor_hooks)  # the kNN monitor, only with CSML_EVAL_ROOT
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
