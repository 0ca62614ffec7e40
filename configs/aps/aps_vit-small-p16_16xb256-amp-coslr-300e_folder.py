# APS with ViT-S/16 (the recipe of aps_vit-small-p16_16xb256-amp-coslr-300e_in1k.py) on your
# own unlabelled images: docs/own_data.md. The same model (../_base_/models/aps_vit-small-p16.py)
# and schedule (../_base_/schedules/adamw_aps_coslr-300e.py); only the data and the kNN monitor
# differ. AMP needs a GPU; on a CPU set optim_wrapper.type=OptimWrapper.
#   CSML_DATA_ROOT=/path/to/images [CSML_EVAL_ROOT=/path/to/labelled] \
#       python tools/train.py configs/aps/aps_vit-small-p16_16xb256-amp-coslr-300e_folder.py
_base_ = [
    '../_base_/models/aps_vit-small-p16.py',
    '../_base_/datasets/folder_bs256_aps.py',
    '../_base_/schedules/adamw_aps_coslr-300e.py',
    '../_base_/default_runtime.py',
]
model_wrapper_cfg = dict(type='MultiStepDistributedDataParallel')
custom_hooks = list(_base_.knn_monitor_hooks)  # the kNN monitor, only with CSML_EVAL_ROOT
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
