# MoCo v2 on the embedded DigitsComposite data (the demo until CsMl lands).
# ResNet-18 at quarter width (16 base channels) with the standard stem keeps an
# epoch short on 2 CPU cores.
_base_ = [
    '../_base_/datasets/digits_bs64_mocov2.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='MoCoV2',
    queue_len=512,  # well below the 2,876 training images (see configs/csml/README.md)
    feat_dim=128,
    momentum=0.01,  # weight of the new parameters (m = 0.99 for a short run)
    backbone=dict(type='ResNet', depth=18, base_channels=16, stem_channels=16,
                  norm_cfg=dict(type='SplitBN', num_splits=8), zero_init_residual=False),
    neck=dict(type='MoCoV2Neck', in_channels=128, hid_channels=512, out_channels=128,
              with_avg_pool=True),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.06, weight_decay=5e-4, momentum=0.9))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=12, by_epoch=True, begin=0, end=12)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12)
auto_scale_lr = dict(base_batch_size=64)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=4, max_keep_ckpts=2))
# Online kNN monitor on the embedded labelled split (see docs/knn.md).
custom_hooks = [
    dict(type='KNNEvalHook', interval=4, topk=(20, 200),
         train_dataloader={{_base_.knn_cfg.train_dataloader}},
         val_dataloader={{_base_.knn_cfg.val_dataloader}})
]
