# SimCLR on Fashion-MNIST at the CPU budget (docs/results/quality.md): ResNet-18 at quarter
# width (16 base channels) with the standard stem on 32 px, batch 128, SGD lr 0.5 with cosine
# decay, temperature 0.2: the recipe of a plain-PyTorch SimCLR probe used while planning,
# through mmpretrain's SimCLR. The WCL baseline.
# 7 epochs (3,276 iterations, about 7 minutes alone on 2 cores with the monitor): at 6 epochs
# SimCLR and WCL stopped at +4.95 and +4.64 kNN points over random init (3 seeds), and an epoch
# of either costs about 50-60 s once the data path is batch-wise, so the seventh still fits in
# the 10-minute budget.
_base_ = [
    '../_base_/datasets/fmnist_bs128_mocov2.py',
    '../_base_/schedules/sgd_coslr_fmnist-cpu.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='SimCLR',
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=16,
        stem_channels=16,
        norm_cfg=dict(type='BN'),
        zero_init_residual=False,
    ),
    neck=dict(
        type='NonLinearNeck',
        in_channels=128,
        hid_channels=256,
        out_channels=64,
        num_layers=2,
        with_avg_pool=True,
        norm_cfg=dict(type='BN1d'),
    ),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2),
)
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
max_epochs = 7
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
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=1, max_keep_ckpts=1))
