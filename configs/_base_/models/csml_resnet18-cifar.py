# CsMl with ResNet-18 and the CIFAR stem (3x3 conv, no max-pool) for 32 px images.
model = dict(
    type='CsMl',
    queue_len=4096,
    feat_dim=128,
    momentum=0.01,
    use_neighbour=True,
    use_cutmix=True,
    cross_weights=(0.5, 0.5),
    cross_warmup_epochs=11,
    cutmix_alpha=2.0,
    backbone=dict(
        type='ResNet_CIFAR',
        depth=18,
        out_indices=(3,),
        norm_cfg=dict(type='SplitBN', num_splits=8),
        zero_init_residual=False,
    ),
    neck=dict(
        type='MultiLevelProjectionNeck', in_channels=[512], hid_channels=512, out_channels=128
    ),
    head=dict(type='MultiPositiveContrastiveHead', temperature=0.2, mode='per_positive'),
)
