# Full fine-tuning of a ViT-T/2 on CIFAR-100, APS's protocol (main_finetune.py,
# config/finetune/*.py): all 256 patch tokens + class token, a linear layer on the class
# token; AdamW wd 0.05 (no decay on 1-D parameters, pos_embed, cls_token), lr =
# 2e-3 x 128/512 = 5e-4 (ViT-T; S: 1e-3 x 128/512, B: 5e-4 x 128/512), batch 128,
# 100 epochs, linear warm-up over 5 epochs from 1e-6, cosine (per epoch) to 1e-5;
# Mixup 0.8 / CutMix 1.0 (one of them per batch), label smoothing 0.1; no stochastic
# depth (APS's drop_path is not passed to the model); the best epoch's top-1 is kept.
#   python tools/train.py THIS_CONFIG \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/aps_cifar100/epoch_1600.pth
# ViT-S/2: model.backbone.arch=deit-small model.head.in_channels=384
#          optim_wrapper.optimizer.lr=2.5e-4
_base_ = ['./vit-tiny-p2_finetune-1xb128-coslr-100e_cifar10.py']
# The CIFAR-10 recipe on CIFAR-100 (cifar-100-python/ under data_root).
dataset_type = 'CIFAR100'
data_root = 'data/cifar100/'
data_preprocessor = dict(num_classes=100)
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
model = dict(head=dict(num_classes=100))
