# WCL for your own folder on one machine (docs/own_data.md, the small recipes): the
# Fashion-MNIST recipe of the quality table (./wcl_resnet18-w16_1xb128-coslr-7e_fmnist.py:
# quarter-width ResNet-18, a 64-d instance head and a 64-d graph head whose 1-NN components
# in the batch give the weak labels, SGD 0.5 cosine) at 64 px, at the small MoCo v2 and CsMl
# recipes' 60 epochs (docs/results/own_data.md).
#   CSML_DATA_ROOT=/path/to/images [CSML_EVAL_ROOT=/path/to/labelled] \
#       python tools/train.py configs/wcl/wcl_resnet18-w16_1xb128-64px-coslr-60e_folder.py
_base_ = [
    '../_base_/models/wcl_resnet18-w16.py',
    '../_base_/datasets/folder64_bs128_mocov2.py',  # two batch-made views of each image
    '../_base_/schedules/sgd_coslr-60e_cpu.py',
    '../_base_/default_runtime.py',
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=10, max_keep_ckpts=1))
custom_hooks = list(_base_.knn_monitor_hooks)  # the kNN monitor, only with CSML_EVAL_ROOT
