# ViT-S/2 variant of vit-tiny-p2_finetune-1xb128-coslr-100e_cifar10.py (APS's protocol):
# 384 dims, 6 heads; lr = 1e-3 x 128/512 (APS config/finetune, ViT-S).
#   python tools/train.py THIS_CONFIG \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/aps_vit-s_cifar10/epoch_1600.pth
_base_ = ['./vit-tiny-p2_finetune-1xb128-coslr-100e_cifar10.py']
model = dict(backbone=dict(arch='deit-small'), head=dict(in_channels=384))
optim_wrapper = dict(optimizer=dict(lr=2.5e-4))
