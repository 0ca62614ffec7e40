# MoCo v2 (mmpretrain's MoCo) through csml_mm's tools: the baseline CsMl is compared with.
_base_ = [
    '../_base_/datasets/imagenet_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_200e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='MoCoV2',
    queue_len=65536,
    feat_dim=128,
    momentum=0.001,  # weight of the new parameters (the paper's m = 0.999)
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='SplitBN', num_splits=8), zero_init_residual=False),
    neck=dict(type='MoCoV2Neck', in_channels=2048, hid_channels=2048, out_channels=128,
              with_avg_pool=True),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2))
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
