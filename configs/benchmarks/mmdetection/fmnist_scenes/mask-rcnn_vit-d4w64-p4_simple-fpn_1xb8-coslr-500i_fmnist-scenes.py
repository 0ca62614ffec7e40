# Mask R-CNN on the Fashion-MNIST scenes with the CPU-sized plain ViT that the APS Fashion-MNIST
# recipe pretrains (configs/aps/aps_vit-d4w64-p4_1xb128-coslr-2e_fmnist.py: 4 blocks, 64-d,
# 4 heads, patch 4, pretrained at 32 px) and ViTDet's simple feature pyramid, sized for 2 CPU
# cores: the ViT rows of docs/results/transfer.md. Data, heads, proposals, schedule length and
# evaluation are those of ./mask-rcnn_r18-w16_fpn_1xb8-coslr-500i_fmnist-scenes.py.
#
#   bash tools/benchmarks/mmdetection/train_vit.sh THIS_CONFIG PRETRAIN.pth 1
#
# [DESIGN]: one stride-4 map (128 px / patch 4 = 32 x 32 tokens, global attention, the 8 x 8
# pretraining position embedding resized to 32 x 32) turned by the pyramid into strides 4-32
# (scale factors 1, 1/2, 1/4, 1/8) plus a pooled stride-64 level, channel LayerNorm in the
# pyramid; AdamW lr 2e-4, weight decay 0.05, layer-wise lr decay 0.75 (ViTDet's optimiser,
# scaled to 4 blocks and batch 8), the ResNet config's 50 warm-up iterations and cosine, no
# drop path.
_base_ = ['./mask-rcnn_r18-w16_fpn_1xb8-coslr-500i_fmnist-scenes.py']
norm_cfg = dict(type='mmpretrain.LN2d', eps=1e-6)
model = dict(
    backbone=dict(
        _delete_=True,
        type='DetVisionTransformer',
        arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256),
        img_size=32,
        patch_size=4,
        qkv_bias=False,
        norm_cfg=dict(type='LN', eps=1e-5),
        drop_path_rate=0.0,
        out_indices=-1,
        init_cfg=dict(type='PretrainedBackbone', checkpoint=None),
    ),
    neck=dict(
        _delete_=True,
        type='SimpleFeaturePyramid',
        in_channels=64,
        out_channels=64,
        scale_factors=(1.0, 0.5, 0.25, 0.125),
        num_outs=5,
        norm_cfg=norm_cfg,
    ),
)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='ViTLayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(layer_decay_rate=0.75, norm_decay_mult=0.0),
)
