# Linear probe on CIFAR-100, MoCo protocol at 32 px: frozen ResNet-18 with the CIFAR stem
# (as in configs/csml/*_cifar100.py) and frozen BN statistics, linear layer N(0, 0.01) on
# the pooled 512-d output, SGD momentum 0.9, wd 0, batch 256, 100 epochs, lr x0.1 at 60
# and 80. Train aug RandomCrop(32, pad 4) + flip; test on the plain test images. As in the
# digits probe, a BatchNorm without affine parameters standardises the features (plain
# SGD at lr 30 diverged on the digits ResNet-18), and lr = 0.05 x 256/64 = 0.2 follows the
# digits probe's lr by linear scaling (not tuned on CIFAR; see docs/benchmarks.md).
#   python tools/train.py THIS_CONFIG \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/csml_cifar100/epoch_200.pth
_base_ = [
    '../../../_base_/models/resnet50_linear.py',
    '../../../_base_/datasets/cifar100_bs256_linear.py',
    '../../../_base_/schedules/sgd_steplr-100e_linear.py',
    '../../../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(type='ResNet_CIFAR', depth=18),
    neck=[dict(type='GlobalAveragePooling'), dict(type='ClsBatchNormNeck', input_features=512)],
    head=dict(num_classes=100, in_channels=512),
)
optim_wrapper = dict(optimizer=dict(lr=0.2))
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3, save_best='auto'))
