# Linear probe on the embedded DigitsComposite data (docs/data.md), the MoCo protocol
# scaled down: frozen ResNet-18 at quarter width (the backbone of configs/*/*_digits.py)
# with frozen BN statistics, a linear layer N(0, 0.01) on the pooled 128-d output, SGD
# momentum 0.9, wd 0, batch 64, 20 epochs, lr x0.1 at 12 and 16. Unlike ResNet-50 on
# ImageNet, this small encoder's pooled features are far from zero-mean, and plain SGD
# stalls or diverges (lr 30 x 64/256 diverges); as in MAE's linear probe, a BatchNorm
# without affine parameters standardises the features before the linear layer, which is
# still a linear classifier of the frozen features (docs/benchmarks.md).
#   python tools/train.py THIS_CONFIG \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/demo/epoch_12.pth
_base_ = [
    '../../../_base_/models/resnet50_linear.py',
    '../../../_base_/datasets/digits_bs64_linear.py',
    '../../../_base_/schedules/sgd_steplr-100e_linear.py',
    '../../../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(depth=18, base_channels=16, stem_channels=16),
    neck=[dict(type='GlobalAveragePooling'), dict(type='ClsBatchNormNeck', input_features=128)],
    head=dict(num_classes=10, in_channels=128),
)
optim_wrapper = dict(optimizer=dict(lr=0.05))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[12, 16], gamma=0.1)]
train_cfg = dict(max_epochs=20)
auto_scale_lr = dict(base_batch_size=64)
default_hooks = dict(
    logger=dict(interval=20), checkpoint=dict(interval=5, max_keep_ckpts=2, save_best='auto')
)
