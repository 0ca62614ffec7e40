# The full linear probe on Fashion-MNIST for APS checkpoints
# (configs/aps/aps_vit-d4w64-p4_1xb128-coslr-2e_fmnist.py): the frozen CPU-sized ViT of the
# digits ViT probe (4 blocks, 64-d, patch 4, qkv without bias, LayerNorm eps 1e-5 as in APS
# pretraining), an affine-free BatchNorm on the class token and one linear layer, with the data
# and schedule of resnet18-w16_linear-1xb128-steplr-10e_fmnist.py.
_base_ = ['./resnet18-w16_linear-1xb128-steplr-10e_fmnist.py']
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
