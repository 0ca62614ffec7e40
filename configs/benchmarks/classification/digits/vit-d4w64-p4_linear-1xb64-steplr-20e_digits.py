# Linear probe on the embedded DigitsComposite data for APS digits checkpoints
# (configs/aps/aps_vit-d4w64-p4_1xb64-coslr-12e_digits.py): the same CPU-sized ViT
# (4 blocks, 64-d, 4 heads, patch 4, qkv without bias) frozen entirely (frozen_stages=4
# covers the patch embedding, all blocks and the final norm), the class token through a
# BatchNorm without affine parameters (as in the ResNet digits probe and MAE's linear
# probe), then one linear layer; SGD lr 0.05, batch 64, 20 epochs, lr x0.1 at 12 and 16.
#   python tools/train.py THIS_CONFIG \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/aps_digits/epoch_12.pth
_base_ = [
    '../../../_base_/datasets/digits_bs64_linear.py',
    '../../../_base_/schedules/sgd_steplr-100e_linear.py',
    '../../../_base_/default_runtime.py',
]
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256),
        img_size=32,
        patch_size=4,
        qkv_bias=False,
        norm_cfg=dict(type='LN', eps=1e-5),  # as APS pretraining builds it
        out_type='cls_token',
        final_norm=True,
        frozen_stages=4,
        init_cfg=dict(type='PretrainedBackbone', checkpoint=None),
    ),
    neck=dict(type='ClsBatchNormNeck', input_features=64),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
        init_cfg=dict(type='Normal', std=0.01, layer='Linear'),
    ),
)
optim_wrapper = dict(optimizer=dict(lr=0.05))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[12, 16], gamma=0.1)]
train_cfg = dict(max_epochs=20)
auto_scale_lr = dict(base_batch_size=64)
default_hooks = dict(
    logger=dict(interval=20), checkpoint=dict(interval=5, max_keep_ckpts=2, save_best='auto')
)
