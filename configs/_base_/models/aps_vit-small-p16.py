# APS with ViT-S/16 on 224 px images (our ImageNet choice; the authors released no ImageNet
# code): the released model's layout (./aps_vit-tiny-p2.py) at ViT-S width, qkv with bias
# and LayerNorm eps 1e-6 (the standard ViT/16 layout, as mmpretrain's and mmdet's ViT configs),
# projector and predictor with MoCo v3's widths (4096 hidden, 256 out). One model for the
# ImageNet recipe and the own-folder recipe (configs/aps/aps_vit-small-p16_*.py).
_base_ = ['./aps_vit-tiny-p2.py']
model = dict(
    backbone=dict(
        arch='deit-small',
        img_size=224,
        patch_size=16,
        qkv_bias=True,
        norm_cfg=dict(type='LN', eps=1e-6),
    ),
    neck=dict(in_channels=384, hid_channels=4096, out_channels=256),
    predictor=dict(in_channels=256, hid_channels=4096, out_channels=256),
)
