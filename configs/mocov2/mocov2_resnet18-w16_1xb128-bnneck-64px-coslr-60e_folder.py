# MoCo v2 for your own folder on one machine (docs/own_data.md, the small recipes): the
# Fashion-MNIST recipe that the quality table kept (./mocov2_resnet18-w16_1xb128-bnneck-coslr-7e_fmnist.py:
# quarter-width ResNet-18, SplitBN, BN1d in the projection MLP, m = 0.99, t = 0.2, SGD 0.06
# cosine) at 64 px, with the queue sized by the data (`queue_len='auto'`: tools/train.py logs
# the value and the reason). The epochs are for a few thousand images on 2 cores in about
# 20 minutes (docs/results/own_data.md); `--epochs N` shortens or lengthens the whole schedule.
#   CSML_DATA_ROOT=/path/to/images [CSML_EVAL_ROOT=/path/to/labelled] \
#       python tools/train.py configs/mocov2/mocov2_resnet18-w16_1xb128-bnneck-64px-coslr-60e_folder.py
_base_ = [
    '../_base_/models/mocov2_resnet18-w16.py',
    '../_base_/datasets/folder64_bs128_mocov2.py',
    '../_base_/schedules/sgd_coslr-60e_cpu.py',
    '../_base_/default_runtime.py',
]
model = dict(
    queue_len='auto',
    # the BN1d projection head of the Fashion-MNIST recipe (see its header)
    neck=dict(
        _delete_=True,
        type='NonLinearNeck',
        in_channels=128,
        hid_channels=512,
        out_channels=128,
        num_layers=2,
        with_avg_pool=True,
        norm_cfg=dict(type='BN1d'),
    ),
)
optim_wrapper = dict(optimizer=dict(lr=0.06))
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=10, max_keep_ckpts=1))
custom_hooks = list(_base_.knn_monitor_hooks)  # the kNN monitor, only with CSML_EVAL_ROOT
