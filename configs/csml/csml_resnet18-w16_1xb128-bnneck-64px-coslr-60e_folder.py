# CsMl for your own folder on one machine (docs/own_data.md, the small recipes): the
# Fashion-MNIST recipe of the quality table (./csml_resnet18-w16_1xb128-bnneck-coslr-4e_fmnist.py:
# MoCo v2's small recipe plus one mined neighbour of K = 5 as a second positive, no CutMix
# positive, neighbour weights on from the start) at 64 px, with the queue sized by the data
# (`queue_len='auto'`) and the neighbours re-mined every 5 epochs by the key encoder, as the
# released ImageNet recipe does. Beside ../mocov2/mocov2_resnet18-w16_1xb128-bnneck-64px-coslr-60e_folder.py
# at the same epochs; about 20 minutes for a few thousand images on 2 cores
# (docs/results/own_data.md). CSML_DATA_ROOT moves the training images and the mining pass.
#   CSML_DATA_ROOT=/path/to/images [CSML_EVAL_ROOT=/path/to/labelled] \
#       python tools/train.py configs/csml/csml_resnet18-w16_1xb128-bnneck-64px-coslr-60e_folder.py
_base_ = [
    '../_base_/models/csml_resnet18-w16.py',
    '../_base_/datasets/folder64_bs128_csml.py',
    '../_base_/schedules/sgd_coslr-60e_cpu.py',
    '../_base_/default_runtime.py',
]
model = dict(queue_len='auto', neck=dict(norm_cfg=dict(type='BN1d')))
optim_wrapper = dict(optimizer=dict(lr=0.06))
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=10, max_keep_ckpts=1))
custom_hooks = [
    dict(type='NeighbourMiningHook', interval=5, dataloader={{_base_.mining_dataloader}}),
] + _base_.knn_monitor_hooks  # the kNN monitor, only with CSML_EVAL_ROOT
