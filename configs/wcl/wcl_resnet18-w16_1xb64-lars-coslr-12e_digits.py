# WCL on the embedded DigitsComposite data (a CPU-sized run). ResNet-18 at quarter width (16 base
# channels), batch 64 (a 64-node 1-NN graph per view), LARS lr 0.075 * sqrt(64) = 0.6, 12 epochs.
# WCL's 10 warm-up epochs of 200 (both the lr warm-up and the MoCo v2 -> SimCLR switch) scale
# to 0.6 of 12 epochs: rounded to 1 epoch.
_base_ = [
    '../_base_/datasets/digits_bs64_wcl.py',
    '../_base_/schedules/lars_wcl_coslr-200e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='WCL',
    graph_weight=1.0,
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
        hid_channels=512,
        out_channels=128,
        num_layers=3,
        with_bias=True,
        with_last_bias=True,
        with_last_bn=False,
        norm_cfg=dict(type='BN1d'),
    ),
    graph_neck=dict(
        type='NonLinearNeck',
        in_channels=128,
        hid_channels=512,
        out_channels=128,
        num_layers=3,
        with_bias=True,
        with_last_bias=True,
        with_last_bn=False,
        norm_cfg=dict(type='BN1d'),
    ),
    head=dict(type='MultiPositiveContrastiveHead', temperature=0.1, mode='supcon'),
    graph_head=dict(type='KNNWeakLabelHead', temperature=0.1, num_neighbours=1),
)
optim_wrapper = dict(optimizer=dict(lr=0.6))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True,
    ),
    dict(
        type='CosineAnnealingLR',
        T_max=11,
        eta_min=0.0,
        by_epoch=True,
        begin=1,
        end=12,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12)
auto_scale_lr = dict(base_batch_size=64)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=4, max_keep_ckpts=2))
custom_hooks = [
    dict(type='PipelineSwitchHook', switch_epochs=[1]),
    dict(
        type='KNNEvalHook',
        interval=4,
        topk=(20, 200),
        train_dataloader={{_base_.knn_cfg.train_dataloader}},
        val_dataloader={{_base_.knn_cfg.val_dataloader}},
    ),
]
