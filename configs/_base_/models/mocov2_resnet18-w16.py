# MoCo v2 at CPU size: ResNet-18 at quarter width (16 base channels) with the standard stem,
# which keeps 32 px (and 64 px) images cheap on 2 cores; queue 4096, m = 0.99, temperature 0.2.
# One process: BN statistics are computed over 8 sub-batches (SplitBN), the single-process
# stand-in for shuffle-BN; it turns itself off under DDP. The model of the Fashion-MNIST,
# digits and small own-folder recipes (configs/mocov2/mocov2_resnet18-w16_*.py), which change
# the queue length and the projection head.
model = dict(
    type='MoCoV2',
    queue_len=4096,
    feat_dim=128,
    momentum=0.01,  # weight of the new parameters (m = 0.99 for a short run)
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=16,
        stem_channels=16,
        norm_cfg=dict(type='SplitBN', num_splits=8),
        zero_init_residual=False,
    ),
    neck=dict(
        type='MoCoV2Neck', in_channels=128, hid_channels=512, out_channels=128, with_avg_pool=True
    ),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2),
)
