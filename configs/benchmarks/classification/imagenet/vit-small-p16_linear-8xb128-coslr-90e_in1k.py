# Linear probe of a frozen ViT-S/16 (MoCo v3 protocol): all 12 blocks, the patch
# embedding and the final norm frozen, a linear layer N(0, 0.01) on the class token,
# SGD lr 12, momentum 0.9, wd 0, batch 1024 (8 GPUs x 128), 90 epochs, cosine decay.
# Works for any checkpoint with mmpretrain VisionTransformer keys (APS, MoCo v3).
#   bash tools/dist_train.sh THIS_CONFIG 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/aps/epoch_300.pth
_base_ = [
    '../../../_base_/datasets/imagenet_bs32_linear.py',
    '../../../_base_/default_runtime.py',
]
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch='deit-small',  # 384 dims, 12 layers, 6 heads (ViT-S of MoCo v3 / APS)
        img_size=224,
        patch_size=16,
        out_type='cls_token',
        final_norm=True,
        frozen_stages=12,
        init_cfg=dict(type='PretrainedBackbone', checkpoint=None),
    ),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
        init_cfg=dict(type='Normal', std=0.01, layer='Linear'),
    ),
)
train_dataloader = dict(batch_size=128, num_workers=10)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='SGD', lr=12.0, momentum=0.9, weight_decay=0.0)
)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=90, by_epoch=True, begin=0, end=90, eta_min=0.0)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=90, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3, save_best='auto'))
