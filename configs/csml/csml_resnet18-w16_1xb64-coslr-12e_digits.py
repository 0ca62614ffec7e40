# CsMl on the embedded DigitsComposite data (the demo). ResNet-18 at quarter width
# (16 base channels) with the standard stem keeps 32 px images cheap on a CPU; the cross-sample warm-up is
# scaled from the code's 11/200 epochs; neighbours are re-mined every 5 epochs.
_base_ = [
    '../_base_/datasets/digits_bs64_csml.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='CsMl',
    queue_len=512,  # well below the 2,876 training images (see configs/csml/README.md)
    feat_dim=128,
    momentum=0.01,  # weight of the new parameters (m = 0.99 for a short run)
    use_neighbour=True,
    use_cutmix=True,
    cross_weights=(0.5, 0.5),
    cross_warmup_epochs=2,
    cutmix_alpha=2.0,
    backbone=dict(type='ResNet', depth=18, base_channels=16, stem_channels=16,
                  out_indices=(3, ), norm_cfg=dict(type='SplitBN', num_splits=8), zero_init_residual=False),
    neck=dict(type='MultiLevelProjectionNeck', in_channels=[128], hid_channels=512,
              out_channels=128),
    head=dict(type='MultiPositiveContrastiveHead', temperature=0.2, mode='per_positive'))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.06, weight_decay=5e-4, momentum=0.9))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=12, by_epoch=True, begin=0, end=12)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12)
auto_scale_lr = dict(base_batch_size=64)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=4, max_keep_ckpts=2))
custom_hooks = [
    dict(type='NeighbourMiningHook', interval=5, dataloader={{_base_.mining_dataloader}}),
    dict(type='KNNEvalHook', interval=4, topk=(20, 200),
         train_dataloader={{_base_.knn_cfg.train_dataloader}},
         val_dataloader={{_base_.knn_cfg.val_dataloader}}),
]
