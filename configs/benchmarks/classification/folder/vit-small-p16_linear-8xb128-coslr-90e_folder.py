# Linear probe of a frozen ViT-S/16 (MoCo v3 protocol, as vit-small-p16_linear-8xb128-coslr-
# 90e_in1k.py) on your own labelled folder (docs/own_data.md): CSML_EVAL_ROOT with
# train/<class>/*, val/<class>/*. For APS checkpoints of aps_vit-small-p16_*_folder.py:
#   CSML_EVAL_ROOT=/path/to/labelled python tools/train.py THIS_CONFIG --cfg-options \
#       model.head.num_classes=N model.backbone.init_cfg.checkpoint=work_dirs/.../epoch_300.pth
_base_ = [
    '../../../_base_/datasets/folder_bs32_linear.py',
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
        num_classes=1000,  # set to your number of classes: model.head.num_classes=N
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
