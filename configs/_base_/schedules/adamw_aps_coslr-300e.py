# The APS ImageNet schedule ([DESIGN]; the authors released no ImageNet code): MoCo v3's ViT
# optimisation, AdamW lr 1.5e-4 x batch / 256 = 2.4e-3 at a total batch of 4096, weight decay
# 0.1, 40 linear warm-up epochs, then a cosine per iteration to 300 epochs, AMP.
# Every batch makes `rounds` optimiser steps (APS.train_step): the configs set
# model_wrapper_cfg = dict(type='MultiStepDistributedDataParallel').
optim_wrapper = dict(
    # the released code's torch.cuda.amp (fp16, dynamic loss scale); on a CPU or to use bf16:
    # --cfg-options optim_wrapper.dtype=auto (bf16 where the device has it)
    type='MixedPrecisionOptimWrapper',
    dtype='float16',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=0.0024, betas=(0.9, 0.999), weight_decay=0.1),
)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=40,
        convert_to_iter_based=True,
    ),
    dict(
        type='CosineAnnealingLR',
        T_max=260,
        by_epoch=True,
        begin=40,
        end=300,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=300)
auto_scale_lr = dict(base_batch_size=4096)
