# CsMl as released (haohang96/CSML, single crop): MoCo v2 with ResNet-50 (queue 65,536,
# m = 0.999, temperature 0.2) + one mined neighbour (of K=5) + CutMix, final embedding only.
# One model for the ImageNet recipe and the own-folder recipe
# (configs/csml/csml_resnet50_8xb32-coslr-200e_{in1k,folder}.py).
model = dict(
    type='CsMl',
    queue_len=65536,  # on your own images keep it well below their number (docs/own_data.md)
    feat_dim=128,
    momentum=0.001,  # weight of the new parameters (the paper's m = 0.999)
    use_neighbour=True,
    use_cutmix=True,
    cross_weights=(0.5, 0.5),
    cross_warmup_epochs=11,  # the code turns cross-sample weights on after epoch 10
    cutmix_alpha=2.0,
    backbone=dict(
        type='ResNet',
        depth=50,
        out_indices=(3,),
        norm_cfg=dict(type='SplitBN', num_splits=8),
        zero_init_residual=False,
    ),
    neck=dict(
        type='MultiLevelProjectionNeck', in_channels=[2048], hid_channels=2048, out_channels=128
    ),
    head=dict(type='MultiPositiveContrastiveHead', temperature=0.2, mode='per_positive'),
)
