# Linear probe, MoCo protocol (MoCo / CsMl main_lincls.py): frozen ResNet-50 with BN
# statistics frozen, linear layer on the globally pooled res5 output, SGD lr 30,
# momentum 0.9, wd 0, batch 256 (8 GPUs x 32), 100 epochs, lr x0.1 at 60 and 80.
#   bash tools/dist_train.sh THIS_CONFIG 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/csml/epoch_200.pth
_base_ = [
    '../../../_base_/models/resnet50_linear.py',
    '../../../_base_/datasets/imagenet_bs32_linear.py',
    '../../../_base_/schedules/sgd_steplr-100e_linear.py',
    '../../../_base_/default_runtime.py',
]
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3, save_best='auto'))
