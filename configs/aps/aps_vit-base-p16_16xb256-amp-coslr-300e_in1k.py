# APS, ViT-B/16, ImageNet-1k, 300 epochs. The authors report 300-epoch
# pre-training + 100-epoch fine-tuning (84.2 top-1) but released no ImageNet
# code. [DESIGN] choices: 14 x 14 grid, 4 rounds of 25% (49 tokens per view and round),
# power 3; MoCo v3's ViT optimisation (AdamW lr 1.5e-4 x batch / 256 = 2.4e-3 at 4096,
# wd 0.1, 40 warm-up epochs, cosine), qkv with bias (standard ViT/16 layout, as
# mmpretrain's and mmdet's ViT configs), APS's 3-layer predictor with MoCo v3's widths
# (the schedule: ../_base_/schedules/adamw_aps_coslr-300e.py, as for ViT-S/16).
_base_ = [
    '../_base_/datasets/imagenet_bs256_aps.py',
    '../_base_/models/aps_vit-tiny-p2.py',
    '../_base_/schedules/adamw_aps_coslr-300e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(
        arch='deit-base',
        img_size=224,
        patch_size=16,
        qkv_bias=True,
        norm_cfg=dict(type='LN', eps=1e-6),
    ),
    neck=dict(in_channels=768, hid_channels=4096, out_channels=256),
    predictor=dict(in_channels=256, hid_channels=4096, out_channels=256),
)
model_wrapper_cfg = dict(type='MultiStepDistributedDataParallel')
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
