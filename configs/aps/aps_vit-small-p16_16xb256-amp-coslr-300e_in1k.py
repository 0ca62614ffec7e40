# APS, ViT-S/16, ImageNet-1k, 300 epochs. The authors report 300-epoch
# pre-training + 100-epoch fine-tuning (82.1 top-1) but released no ImageNet
# code. [DESIGN] choices: 14 x 14 grid, 4 rounds of 25% (49 tokens per view and round),
# power 3; MoCo v3's ViT optimisation (AdamW lr 1.5e-4 x batch / 256 = 2.4e-3 at 4096,
# wd 0.1, 40 warm-up epochs, cosine), qkv with bias (standard ViT/16 layout, as
# mmpretrain's and mmdet's ViT configs), APS's 3-layer predictor with MoCo v3's widths.
# The model (../_base_/models/aps_vit-small-p16.py) and the schedule
# (../_base_/schedules/adamw_aps_coslr-300e.py) are shared with the own-folder recipe
# (./aps_vit-small-p16_16xb256-amp-coslr-300e_folder.py), which differs only in the data.
_base_ = [
    '../_base_/models/aps_vit-small-p16.py',
    '../_base_/datasets/imagenet_bs256_aps.py',
    '../_base_/schedules/adamw_aps_coslr-300e.py',
    '../_base_/default_runtime.py',
]
model_wrapper_cfg = dict(type='MultiStepDistributedDataParallel')
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
