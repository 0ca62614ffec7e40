# MoCo v2 on Fashion-MNIST at the CPU budget (docs/results/quality.md), the CsMl baseline.
# ResNet-18 at quarter width on 32 px, batch 128, queue 4096, m = 0.99, temperature 0.2.
# One process: BN statistics are computed over 8 sub-batches of 16 (SplitBN), the
# single-process stand-in for shuffle-BN; it turns itself off under DDP.
_base_ = [
    '../_base_/datasets/fmnist_bs128_mocov2.py',
    '../_base_/schedules/sgd_coslr_fmnist-cpu.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='MoCoV2',
    queue_len=4096,
    feat_dim=128,
    momentum=0.01,  # weight of the new parameters (m = 0.99 for a short run)
    backbone=dict(type='ResNet', depth=18, base_channels=16, stem_channels=16,
                  norm_cfg=dict(type='SplitBN', num_splits=8), zero_init_residual=False),
    neck=dict(type='MoCoV2Neck', in_channels=128, hid_channels=512, out_channels=128,
              with_avg_pool=True),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2))
optim_wrapper = dict(optimizer=dict(lr=0.06))  # 0.3 fell below random init (docs/results)
max_epochs = 2
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, begin=0,
                        end=max_epochs, convert_to_iter_based=True)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
custom_hooks = [
    dict(type='KNNEvalHook', interval=1, topk=(20, ), before_train=True,
         train_dataloader={{_base_.monitor_knn_cfg.train_dataloader}},
         val_dataloader={{_base_.monitor_knn_cfg.val_dataloader}}),
]
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=1, max_keep_ckpts=1))
