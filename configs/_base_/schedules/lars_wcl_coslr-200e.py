# WCL's optimisation (mingkai-zheng/WCL, util/LARS.py + wcl.py), with mmpretrain's LARS:
# lr = 0.075 * sqrt(batch) = 4.8 for batch 4096, momentum 0.9, weight decay 1e-6, trust
# coefficient 0.001, eps 0. Parameters whose name contains 'bn' or 'bias' get no weight decay
# and no LARS scaling (mmengine custom_keys are substring matches, like the original's name
# test). ResNet downsample BNs are named 'downsample.1.*': like in the released code they are
# NOT matched, so they are decayed and LARS-scaled; add
# "'downsample.1': dict(decay_mult=0, lars_exclude=True)" to custom_keys to exclude them too.
# Differences of mmpretrain's LARS from WCL's (configs/wcl/README.md): trust ratio
# eta*||w|| / (||g|| + wd*||w||) instead of eta*||w|| / ||g + wd*w||, and the lr is applied
# inside the momentum buffer.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='DeviceLARS', lr=4.8, momentum=0.9, weight_decay=1e-6, eta=0.001, eps=0.0),
    paramwise_cfg=dict(
        custom_keys={
            'bn': dict(decay_mult=0, lars_exclude=True),
            'bias': dict(decay_mult=0, lars_exclude=True),
        }
    ),
)

# Per-iteration schedule: linear warm-up over 10 epochs from ~0, then cosine to 0.
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=10,
        convert_to_iter_based=True,
    ),
    dict(
        type='CosineAnnealingLR',
        T_max=190,
        eta_min=0.0,
        by_epoch=True,
        begin=10,
        end=200,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200)
# lr 4.8 is for a total batch of 4096 (linear scaling with --auto-scale-lr; the paper scales
# with the square root, 0.075 * sqrt(batch)).
auto_scale_lr = dict(base_batch_size=4096)
