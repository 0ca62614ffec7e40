# APS with ViT-S/16 (the recipe of aps_vit-small-p16_16xb256-amp-coslr-300e_in1k.py) on your
# own unlabelled images: docs/own_data.md. AMP needs a GPU; on a CPU set
# optim_wrapper.type=OptimWrapper.
#   CSML_DATA_ROOT=/path/to/images [CSML_EVAL_ROOT=/path/to/labelled] \
#       python tools/train.py configs/aps/aps_vit-small-p16_16xb256-amp-coslr-300e_folder.py
_base_ = [
    '../_base_/datasets/folder_bs256_aps.py',
    '../_base_/models/aps_vit-tiny-p2.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(arch='deit-small', img_size=224, patch_size=16, qkv_bias=True,
                  norm_cfg=dict(type='LN', eps=1e-6)),
    neck=dict(in_channels=384, hid_channels=4096, out_channels=256),
    predictor=dict(in_channels=256, hid_channels=4096, out_channels=256))
optim_wrapper = dict(
    # the released code's torch.cuda.amp (fp16, dynamic loss scale); on a CPU or to use bf16:
    # --cfg-options optim_wrapper.dtype=auto (bf16 where the device has it)
    type='MixedPrecisionOptimWrapper',
    dtype='float16',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=0.0024, betas=(0.9, 0.999), weight_decay=0.1))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=260, by_epoch=True, begin=40, end=300,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=300)
auto_scale_lr = dict(base_batch_size=4096)
model_wrapper_cfg = dict(type='MultiStepDistributedDataParallel')
custom_hooks = list(_base_.knn_monitor_hooks)  # the kNN monitor, only with CSML_EVAL_ROOT
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
