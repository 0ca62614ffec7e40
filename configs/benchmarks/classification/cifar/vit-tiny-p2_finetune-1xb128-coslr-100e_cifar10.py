# Full fine-tuning of a ViT-T/2 on CIFAR-10, APS's protocol (main_finetune.py,
# config/finetune/*.py): all 256 patch tokens + class token, a linear layer on the class
# token; AdamW wd 0.05 (no decay on 1-D parameters, pos_embed, cls_token), lr =
# 2e-3 x 128/512 = 5e-4 (ViT-T; S: 1e-3 x 128/512, B: 5e-4 x 128/512), batch 128,
# 100 epochs, linear warm-up over 5 epochs from 1e-6, cosine (per epoch) to 1e-5;
# Mixup 0.8 / CutMix 1.0 (one of them per batch), label smoothing 0.1; no stochastic
# depth (APS's drop_path is not passed to the model); the best epoch's top-1 is kept.
#   python tools/train.py THIS_CONFIG \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/aps_cifar10/epoch_1600.pth
# ViT-S/2: model.backbone.arch=deit-small model.head.in_channels=384
#          optim_wrapper.optimizer.lr=2.5e-4
_base_ = [
    '../../../_base_/datasets/cifar10_bs128_finetune.py',
    '../../../_base_/default_runtime.py',
]
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch='deit-tiny',  # 192 dims, 12 layers, 3 heads
        img_size=32,
        patch_size=2,
        qkv_bias=False,  # as in APS's CIFAR pretraining (configs/_base_/models/aps_vit-tiny-p2.py)
        # LayerNorm eps 1e-5 as in that pretraining (mmpretrain's ViT default is 1e-6: every
        # key would load, but the network would compute other features).
        norm_cfg=dict(type='LN', eps=1e-5),
        out_type='cls_token',
        final_norm=True,
        drop_path_rate=0.0,
        init_cfg=dict(type='PretrainedBackbone', checkpoint=None),
    ),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=192,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=2e-5),
    ),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        flat_decay_mult=0.0,
        custom_keys={'.pos_embed': dict(decay_mult=0.0), '.cls_token': dict(decay_mult=0.0)},
    ),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=2e-3, by_epoch=True, begin=0, end=5),
    dict(type='CosineAnnealingLR', T_max=95, by_epoch=True, begin=5, end=100, eta_min=1e-5),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=2, save_best='auto'))
