# Linear probe, MoCo protocol (as resnet50_linear-8xb32-steplr-100e_in1k.py), on your own
# labelled folder (docs/own_data.md): CSML_EVAL_ROOT with train/<class>/*, val/<class>/*.
# Give the number of classes and the pretrained file on the command line:
#   CSML_EVAL_ROOT=/path/to/labelled python tools/train.py THIS_CONFIG --cfg-options \
#       model.head.num_classes=N model.backbone.init_cfg.checkpoint=work_dirs/.../epoch_200.pth
_base_ = [
    '../../../_base_/models/resnet50_linear.py',
    '../../../_base_/datasets/folder_bs32_linear.py',
    '../../../_base_/schedules/sgd_steplr-100e_linear.py',
    '../../../_base_/default_runtime.py',
]
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3, save_best='auto'))
