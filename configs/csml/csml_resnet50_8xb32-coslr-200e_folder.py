# CsMl (the released recipe of csml_resnet50_8xb32-coslr-200e_in1k.py: MoCo v2 + one mined
# neighbour of K=5, re-mined every 5 epochs, + CutMix) on your own unlabelled images:
# docs/own_data.md. The same model (../_base_/models/csml_resnet50.py: keep its queue of 65,536
# well below the number of images) and schedule; only the data and the kNN monitor differ.
# CSML_DATA_ROOT moves the training images and the mining pass together.
#   CSML_DATA_ROOT=/path/to/images [CSML_EVAL_ROOT=/path/to/labelled] \
#       python tools/train.py configs/csml/csml_resnet50_8xb32-coslr-200e_folder.py
_base_ = [
    '../_base_/models/csml_resnet50.py',
    '../_base_/datasets/folder_bs32_csml.py',
    '../_base_/schedules/sgd_coslr_200e.py',
    '../_base_/default_runtime.py',
]
custom_hooks = [
    dict(type='NeighbourMiningHook', interval=5, dataloader={{_base_.mining_dataloader}}),
] + _base_.knn_monitor_hooks  # the kNN monitor, only with CSML_EVAL_ROOT
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
