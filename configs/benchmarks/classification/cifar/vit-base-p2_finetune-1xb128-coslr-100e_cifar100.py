# ViT-B/2 variant of vit-tiny-p2_finetune-1xb128-coslr-100e_cifar100.py (APS's protocol):
# 768 dims, 12 heads; lr = 5e-4 x 128/512 (APS config/finetune, ViT-B).
#   python tools/train.py THIS_CONFIG \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/aps_vit-b_cifar100/epoch_1600.pth
_base_ = ['./vit-tiny-p2_finetune-1xb128-coslr-100e_cifar100.py']
model = dict(backbone=dict(arch='deit-base'), head=dict(in_channels=768))
optim_wrapper = dict(optimizer=dict(lr=1.25e-4))
