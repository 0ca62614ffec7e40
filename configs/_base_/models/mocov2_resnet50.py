# MoCo v2 (mmpretrain's MoCo) with ResNet-50 as in the paper: queue 65,536, m = 0.999,
# temperature 0.2, a 2048-2048-128 projection MLP. One model for the ImageNet recipe and the
# own-folder recipe (configs/mocov2/mocov2_resnet50_8xb32-coslr-200e_{in1k,folder}.py).
# SplitBN (8 sub-batches) is the single-process stand-in for shuffle-BN; it turns itself off
# under DDP.
model = dict(
    type='MoCoV2',
    queue_len=65536,  # on your own images keep it well below their number (docs/own_data.md)
    feat_dim=128,
    momentum=0.001,  # weight of the new parameters (the paper's m = 0.999)
    backbone=dict(
        type='ResNet',
        depth=50,
        norm_cfg=dict(type='SplitBN', num_splits=8),
        zero_init_residual=False,
    ),
    neck=dict(
        type='MoCoV2Neck', in_channels=2048, hid_channels=2048, out_channels=128, with_avg_pool=True
    ),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2),
)
