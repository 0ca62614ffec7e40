# MoCo v2 (mmpretrain's MoCo) through csml_mm's tools: the baseline CsMl is compared with.
# The model is ../_base_/models/mocov2_resnet50.py, shared with the own-folder recipe
# (./mocov2_resnet50_8xb32-coslr-200e_folder.py), which differs only in the data.
_base_ = [
    '../_base_/models/mocov2_resnet50.py',
    '../_base_/datasets/imagenet_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_200e.py',
    '../_base_/default_runtime.py',
]
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
