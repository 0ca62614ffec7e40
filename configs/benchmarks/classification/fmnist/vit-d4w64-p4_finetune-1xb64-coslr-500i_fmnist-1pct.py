# Few-label fine-tuning on 1% of the Fashion-MNIST train labels for the CPU-sized ViT of the APS
# recipe (configs/aps/aps_vit-d4w64-p4_1xb128-coslr-2e_fmnist.py): the data, batch, iterations
# and evaluation of ./resnet18-w16_finetune-1xb64-coslr-500i_fmnist-1pct.py, every layer
# trained, a linear classifier on the class token. [DESIGN]: AdamW lr 5e-4, weight decay 0.05,
# layer-wise lr decay 0.75 (the fine-tuning optimiser of the ViT benchmarks), the classifier at
# the full rate, cosine to 0; the same for every ViT row.
_base_ = ['./resnet18-w16_finetune-1xb64-coslr-500i_fmnist-1pct.py']
model = dict(
    _delete_=True,
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256),
        img_size=32,
        patch_size=4,
        qkv_bias=False,
        norm_cfg=dict(type='LN', eps=1e-5),
        out_type='cls_token',
        final_norm=True,
        init_cfg=dict(type='PretrainedBackbone', checkpoint=None),
    ),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
        init_cfg=dict(type='Normal', std=0.01, layer='Linear'),
    ),
)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.75,
        custom_keys={'.cls_token': dict(decay_mult=0.0), '.pos_embed': dict(decay_mult=0.0)},
    ),
)
