# CsMl at CPU size: MoCo v2's small model (./mocov2_resnet18-w16.py: quarter-width ResNet-18,
# SplitBN, queue 4096, m = 0.99, temperature 0.2) plus one mined neighbour as a second
# positive. The model of the Fashion-MNIST, digits and small own-folder recipes
# (configs/csml/csml_resnet18-w16_*.py). No CutMix positive here: the recipes that use it set
# use_cutmix=True with its cutmix_alpha. [DESIGN] No cross-sample warm-up (the neighbour
# weights are on from the first epoch): see csml_resnet18-w16_1xb128-coslr-2e_fmnist.py.
model = dict(
    type='CsMl',
    queue_len=4096,
    feat_dim=128,
    momentum=0.01,  # weight of the new parameters (m = 0.99 for a short run)
    use_neighbour=True,
    use_cutmix=False,
    cross_weights=(0.5, 0.5),
    cross_warmup_epochs=0,
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=16,
        stem_channels=16,
        out_indices=(3,),
        norm_cfg=dict(type='SplitBN', num_splits=8),
        zero_init_residual=False,
    ),
    neck=dict(
        type='MultiLevelProjectionNeck', in_channels=[128], hid_channels=512, out_channels=128
    ),
    head=dict(type='MultiPositiveContrastiveHead', temperature=0.2, mode='per_positive'),
)
