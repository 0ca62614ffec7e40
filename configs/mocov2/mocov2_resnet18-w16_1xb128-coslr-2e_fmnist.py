# MoCo v2 on Fashion-MNIST at the CPU budget (docs/results/quality.md), the CsMl baseline.
# ResNet-18 at quarter width on 32 px, batch 128, queue 4096, m = 0.99, temperature 0.2
# (the model: ../_base_/models/mocov2_resnet18-w16.py). One process: BN statistics are computed
# over 8 sub-batches of 16 (SplitBN), the single-process stand-in for shuffle-BN.
_base_ = [
    '../_base_/models/mocov2_resnet18-w16.py',
    '../_base_/datasets/fmnist_bs128_mocov2.py',
    '../_base_/schedules/sgd_coslr_fmnist-cpu.py',
    '../_base_/default_runtime.py',
]
optim_wrapper = dict(optimizer=dict(lr=0.06))  # 0.3 fell below random init (docs/results)
max_epochs = 2
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True,
    )
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
custom_hooks = [
    dict(
        type='KNNEvalHook',
        interval=1,
        topk=(20,),
        before_train=True,
        train_dataloader={{_base_.monitor_knn_cfg.train_dataloader}},
        val_dataloader={{_base_.monitor_knn_cfg.val_dataloader}},
    ),
]
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=1, max_keep_ckpts=1))
