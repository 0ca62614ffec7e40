# CsMl as released (haohang96/CSML, single crop, 200 epochs): MoCo v2 + one mined
# neighbour (of K=5, re-mined every 5 epochs) + CutMix, final embedding only. The model is
# ../_base_/models/csml_resnet50.py, shared with the own-folder recipe
# (./csml_resnet50_8xb32-coslr-200e_folder.py), which differs only in the data.
_base_ = [
    '../_base_/models/csml_resnet50.py',
    '../_base_/datasets/imagenet_bs32_csml.py',
    '../_base_/schedules/sgd_coslr_200e.py',
    '../_base_/default_runtime.py',
]
custom_hooks = [
    dict(type='NeighbourMiningHook', interval=5, dataloader={{_base_.mining_dataloader}})
]
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
