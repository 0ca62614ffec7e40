# MoCo v2 (the ImageNet recipe of mocov2_resnet50_8xb32-coslr-200e_in1k.py) on your own
# unlabelled images: docs/own_data.md. The same model (../_base_/models/mocov2_resnet50.py:
# keep its queue of 65,536 well below the number of images) and schedule; only the data and
# the kNN monitor differ.
#   CSML_DATA_ROOT=/path/to/images [CSML_EVAL_ROOT=/path/to/labelled] \
#       python tools/train.py configs/mocov2/mocov2_resnet50_8xb32-coslr-200e_folder.py
_base_ = [
    '../_base_/models/mocov2_resnet50.py',
    '../_base_/datasets/folder_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_200e.py',
    '../_base_/default_runtime.py',
]
custom_hooks = list(_base_.knn_monitor_hooks)  # the kNN monitor, only with CSML_EVAL_ROOT
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
