# WCL (Zheng et al., ICCV 2021) on ImageNet-1k: ResNet-50, batch 4096 (32 GPUs x 128), LARS
# lr 4.8, 10 warm-up epochs then cosine per iteration, MoCo v2 -> SimCLR augmentation switch at
# epoch 10, 200 epochs. Projection heads of the paper: 2048 -> 2048 -> 2048 -> 128.
# (the released code's 4096/256 heads: wcl_resnet50-head4096_*.py). See configs/wcl/README.md.
# The model is ../_base_/models/wcl_resnet50.py, shared with the own-folder recipe
# (./wcl_resnet50_32xb128-lars-coslr-200e_folder.py), which differs only in the data.
_base_ = [
    '../_base_/models/wcl_resnet50.py',
    '../_base_/datasets/imagenet_bs128_wcl.py',
    '../_base_/schedules/lars_wcl_coslr-200e.py',
    '../_base_/default_runtime.py',
]
custom_hooks = [
    # epochs 0-9: MoCo v2 views, epochs 10+: SimCLR views (the released wcl.py)
    dict(type='PipelineSwitchHook', switch_epochs=[10]),
]
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
