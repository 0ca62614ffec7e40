# WCL (Zheng et al., ICCV 2021) with ResNet-50 and the paper's projection heads:
# 2048 -> 2048 -> 2048 -> 128 (the released code's 4096/256 heads: configs/wcl/wcl_resnet50-head4096_*.py).
# SyncBN everywhere (batch 4096 over 32 GPUs). One model for the ImageNet recipes, the own-folder
# recipe and (with the small crops) the multi-crop reconstruction (configs/wcl/wcl_resnet50*.py).
model = dict(
    type='WCL',
    graph_weight=1.0,
    num_small_crops=0,
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='SyncBN'), zero_init_residual=False),
    # head g: Linear-BN-ReLU-Linear-BN-ReLU-Linear (all with bias, no BN at the end)
    neck=dict(
        type='NonLinearNeck',
        in_channels=2048,
        hid_channels=2048,
        out_channels=128,
        num_layers=3,
        with_bias=True,
        with_last_bias=True,
        with_last_bn=False,
        norm_cfg=dict(type='SyncBN'),
    ),
    # head phi: the same architecture, its own weights
    graph_neck=dict(
        type='NonLinearNeck',
        in_channels=2048,
        hid_channels=2048,
        out_channels=128,
        num_layers=3,
        with_bias=True,
        with_last_bias=True,
        with_last_bn=False,
        norm_cfg=dict(type='SyncBN'),
    ),
    head=dict(type='MultiPositiveContrastiveHead', temperature=0.1, mode='supcon'),
    graph_head=dict(type='KNNWeakLabelHead', temperature=0.1, num_neighbours=1),
)
