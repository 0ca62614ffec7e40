# SimCLR on Fashion-MNIST, a CPU-sized run: ResNet-18 at quarter width (16 base channels) with
# the standard stem on 32 px, batch 128, SGD lr 0.5 with cosine decay, temperature 0.2 (the
# recipe of the SimCLR probe, ../shared/probes/simclr_probe.py). The WCL baseline.
_base_ = [
    '../_base_/datasets/fmnist_bs128_mocov2.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='SimCLR',
    backbone=dict(type='ResNet', depth=18, base_channels=16, stem_channels=16,
                  norm_cfg=dict(type='BN'), zero_init_residual=False),
    neck=dict(type='NonLinearNeck', in_channels=128, hid_channels=256, out_channels=64,
              num_layers=2, with_avg_pool=True, norm_cfg=dict(type='BN1d')),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2))
max_epochs = 12
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.5, weight_decay=5e-4, momentum=0.9))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, begin=0,
                        end=max_epochs, convert_to_iter_based=True)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=128)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=4, max_keep_ckpts=1))
custom_hooks = [
    dict(type='KNNEvalHook', interval=2, topk=(20, ), before_train=True,
         train_dataloader={{_base_.knn_cfg.train_dataloader}},
         val_dataloader={{_base_.knn_cfg.val_dataloader}}),
]
