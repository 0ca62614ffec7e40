# WCL with ResNet-18 and the CIFAR stem (3x3 conv, no max-pool) for 32 px images, heads
# 512 -> 2048 -> 2048 -> 128, plain BN (one GPU). Our settings, not the paper's: the released
# code has no CIFAR recipe (configs/wcl/README.md).
model = dict(
    type='WCL',
    graph_weight=1.0,
    backbone=dict(
        type='ResNet_CIFAR', depth=18, norm_cfg=dict(type='BN'), zero_init_residual=False
    ),
    neck=dict(
        type='NonLinearNeck',
        in_channels=512,
        hid_channels=2048,
        out_channels=128,
        num_layers=3,
        with_bias=True,
        with_last_bias=True,
        with_last_bn=False,
        norm_cfg=dict(type='BN1d'),
    ),
    graph_neck=dict(
        type='NonLinearNeck',
        in_channels=512,
        hid_channels=2048,
        out_channels=128,
        num_layers=3,
        with_bias=True,
        with_last_bias=True,
        with_last_bn=False,
        norm_cfg=dict(type='BN1d'),
    ),
    head=dict(type='MultiPositiveContrastiveHead', temperature=0.1, mode='supcon'),
    graph_head=dict(type='KNNWeakLabelHead', temperature=0.1, num_neighbours=1),
)
