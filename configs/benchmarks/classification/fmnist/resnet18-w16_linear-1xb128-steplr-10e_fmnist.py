# The full (augmented, SGD) linear probe on Fashion-MNIST for the ResNet-18 w16 checkpoints of
# the `_fmnist` configs: frozen backbone with frozen BN statistics, a BatchNorm without affine
# parameters on the pooled 128-d output, a linear layer; train on the 60,000 train images
# (crop 0.5-1 + flip), evaluate top-1 on the 10,000 test images; SGD lr 0.05, batch 128,
# 10 epochs, lr x0.1 at 6 and 8. The quality table uses the quick probe instead
# (tools/analysis_tools/knn_eval.py --linear-probe: logistic regression on frozen features).
#   python tools/train.py THIS_CONFIG \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/demo/epoch_2.pth
_base_ = [
    '../../../_base_/models/resnet50_linear.py',
    '../../../_base_/datasets/fmnist_bs128_linear.py',
    '../../../_base_/schedules/sgd_steplr-100e_linear.py',
    '../../../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(depth=18, base_channels=16, stem_channels=16),
    neck=[dict(type='GlobalAveragePooling'), dict(type='ClsBatchNormNeck', input_features=128)],
    head=dict(num_classes=10, in_channels=128),
)
optim_wrapper = dict(optimizer=dict(lr=0.05))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[6, 8], gamma=0.1)]
train_cfg = dict(max_epochs=10)
auto_scale_lr = dict(base_batch_size=128)
default_hooks = dict(
    logger=dict(interval=50), checkpoint=dict(interval=5, max_keep_ckpts=1, save_best='auto')
)
