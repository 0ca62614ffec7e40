# The released APS CIFAR schedule: AdamW (betas 0.9/0.999, weight decay 0.05 on every
# parameter), lr = lr_base x 512 / 256, AMP, 1600 epochs, per-epoch LR factor
# min((e + 1) / 20, cosine). Here: LinearLR gives exactly (e + 1) / 20 in epochs 0-19,
# then a cosine over the remaining 1580 epochs (the released factor is a cosine over
# all 1600 epochs capped by the warm-up; the two differ by at most 1.1% of the peak).
# Every batch makes `rounds` optimiser steps (APS.train_step); the LR changes per epoch.
optim_wrapper = dict(
    # the released code's torch.cuda.amp (fp16, dynamic loss scale); on a CPU or to use bf16:
    # --cfg-options optim_wrapper.dtype=auto (bf16 where the device has it)
    type='MixedPrecisionOptimWrapper',
    dtype='float16',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.999), weight_decay=0.05),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.05, by_epoch=True, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=1580, eta_min=0.0, by_epoch=True, begin=20, end=1600),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1600)
auto_scale_lr = dict(base_batch_size=512)
