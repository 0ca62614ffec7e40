# WCL (the ImageNet recipe of wcl_resnet50_32xb128-lars-coslr-200e_in1k.py) on your own
# unlabelled images: docs/own_data.md. The same model (../_base_/models/wcl_resnet50.py) and
# schedule; only the data and the kNN monitor differ. Batch 4096 = 32 GPUs x 128; with fewer
# GPUs keep the total batch (train_dataloader.batch_size) or add --auto-scale-lr.
#   CSML_DATA_ROOT=/path/to/images [CSML_EVAL_ROOT=/path/to/labelled] \
#       python tools/train.py configs/wcl/wcl_resnet50_32xb128-lars-coslr-200e_folder.py
_base_ = [
    '../_base_/models/wcl_resnet50.py',
    '../_base_/datasets/folder_bs128_wcl.py',
    '../_base_/schedules/lars_wcl_coslr-200e.py',
    '../_base_/default_runtime.py',
]
custom_hooks = [
    # epochs 0-9: MoCo v2 views, epochs 10+: SimCLR views (the released wcl.py)
    dict(type='PipelineSwitchHook', switch_epochs=[10]),
] + _base_.knn_monitor_hooks  # the kNN monitor, only with CSML_EVAL_ROOT
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
