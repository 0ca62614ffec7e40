# WCL (the ImageNet recipe of wcl_resnet50_32xb128-lars-coslr-200e_in1k.py) on your own
# unlabelled images: docs/own_data.md. Batch 4096 = 32 GPUs x 128; with fewer GPUs keep the
# total batch (train_dataloader.batch_size) or add --auto-scale-lr.
#   CSML_DATA_ROOT=/path/to/images [CSML_EVAL_ROOT=/path/to/labelled] \
#       python tools/train.py configs/wcl/wcl_resnet50_32xb128-lars-coslr-200e_folder.py
_base_ = [
    '../_base_/datasets/folder_bs128_wcl.py',
    '../_base_/schedules/lars_wcl_coslr-200e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='WCL',
    graph_weight=1.0,
    num_small_crops=0,
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='SyncBN'),
                  zero_init_residual=False),
    neck=dict(type='NonLinearNeck', in_channels=2048, hid_channels=2048, out_channels=128,
              num_layers=3, with_bias=True, with_last_bias=True, with_last_bn=False,
              norm_cfg=dict(type='SyncBN')),
    graph_neck=dict(type='NonLinearNeck', in_channels=2048, hid_channels=2048, out_channels=128,
                    num_layers=3, with_bias=True, with_last_bias=True, with_last_bn=False,
                    norm_cfg=dict(type='SyncBN')),
    head=dict(type='MultiPositiveContrastiveHead', temperature=0.1, mode='supcon'),
    graph_head=dict(type='KNNWeakLabelHead', temperature=0.1, num_neighbours=1))
custom_hooks = [
    # epochs 0-9: MoCo v2 views, epochs 10+: SimCLR views (the released wcl.py)
    dict(type='PipelineSwitchHook', switch_epochs=[10]),
] + _base_.knn_monitor_hooks  # the kNN monitor, only with CSML_EVAL_ROOT
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
