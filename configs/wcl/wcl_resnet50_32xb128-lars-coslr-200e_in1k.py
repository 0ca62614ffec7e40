# WCL (Zheng et al., ICCV 2021) on ImageNet-1k: ResNet-50, batch 4096 (32 GPUs x 128), LARS
# lr 4.8, 10 warm-up epochs then cosine per iteration, MoCo v2 -> SimCLR augmentation switch at
# epoch 10, 200 epochs. Projection heads of the paper: 2048 -> 2048 -> 2048 -> 128.
# (the released code's 4096/256 heads: wcl_resnet50-head4096_*.py). See configs/wcl/README.md.
_base_ = [
    '../_base_/datasets/imagenet_bs128_wcl.py',
    '../_base_/schedules/lars_wcl_coslr-200e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='WCL',
    graph_weight=1.0,
    num_small_crops=0,
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='SyncBN'),
                  zero_init_residual=False),
    # head g: Linear-BN-ReLU-Linear-BN-ReLU-Linear (all with bias, no BN at the end)
    neck=dict(type='NonLinearNeck', in_channels=2048, hid_channels=2048, out_channels=128,
              num_layers=3, with_bias=True, with_last_bias=True, with_last_bn=False,
              norm_cfg=dict(type='SyncBN')),
    # head phi: the same architecture, its own weights
    graph_neck=dict(type='NonLinearNeck', in_channels=2048, hid_channels=2048, out_channels=128,
                    num_layers=3, with_bias=True, with_last_bias=True, with_last_bn=False,
                    norm_cfg=dict(type='SyncBN')),
    head=dict(type='MultiPositiveContrastiveHead', temperature=0.1, mode='supcon'),
    graph_head=dict(type='KNNWeakLabelHead', temperature=0.1, num_neighbours=1))

custom_hooks = [
    # epochs 0-9: MoCo v2 views, epochs 10+: SimCLR views (the released wcl.py)
    dict(type='PipelineSwitchHook', switch_epochs=[10]),
]
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
