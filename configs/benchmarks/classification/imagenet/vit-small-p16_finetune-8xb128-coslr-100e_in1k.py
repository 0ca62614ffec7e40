# Full fine-tuning of a ViT-S/16 on ImageNet-1k, the 100-epoch protocol (MAE/BEiT style,
# as shipped by mmselfsup for ViTs; APS reports 82.1 top-1 for ViT-S/16 after 100 epochs
# but released no ImageNet fine-tuning config): AdamW lr 2e-3 for batch 1024 (8 GPUs x
# 128), betas (0.9, 0.999), wd 0.05 (none on norms, biases, pos_embed, cls_token),
# layer-wise lr decay 0.75, stochastic depth 0.1, 5 warm-up epochs then cosine to 1e-6
# (per iteration), RandAugment m9, random erasing 0.25, Mixup 0.8 / CutMix 1.0, label
# smoothing 0.1, class-token classifier.
#   bash tools/dist_train.sh THIS_CONFIG 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/aps/epoch_300.pth
_base_ = [
    '../../../_base_/datasets/imagenet_bs128_finetune.py',
    '../../../_base_/default_runtime.py',
]
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch='deit-small',  # 384 dims, 12 layers, 6 heads
        img_size=224,
        patch_size=16,
        out_type='cls_token',
        final_norm=True,
        drop_path_rate=0.1,
        init_cfg=dict(type='PretrainedBackbone', checkpoint=None),
    ),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=2e-5),
    ),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05, betas=(0.9, 0.999)),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.75,
        custom_keys={
            '.ln': dict(decay_mult=0.0),
            '.bias': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
            '.cls_token': dict(decay_mult=0.0),
        },
    ),
)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True,
    ),
    dict(
        type='CosineAnnealingLR',
        T_max=95,
        by_epoch=True,
        begin=5,
        end=100,
        eta_min=1e-6,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=2, save_best='auto'))
