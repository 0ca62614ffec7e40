# The schedule of the MoCo v2 family's demos on the embedded DigitsComposite data
# (configs/{mocov2,csml,hsa}/*_digits.py): SGD lr 0.06, momentum 0.9, weight decay 5e-4 at a
# batch of 64 (--auto-scale-lr rescales from it), cosine decay per epoch over 12 epochs.
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='SGD', lr=0.06, weight_decay=5e-4, momentum=0.9)
)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=12, by_epoch=True, begin=0, end=12)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12)
auto_scale_lr = dict(base_batch_size=64)
