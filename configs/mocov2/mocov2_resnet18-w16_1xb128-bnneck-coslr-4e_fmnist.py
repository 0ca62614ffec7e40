# MoCo v2 with the BN1d projection head (see ./mocov2_resnet18-w16_1xb128-bnneck-coslr-7e_fmnist.py)
# at CsMl's 4-epoch budget: the baseline of the `csml` comparison in docs/results/quality.md.
# CsMl does about twice MoCo v2's work a step (two query and two key sets), so at an equal
# number of epochs (the same images, iterations and augmentation) it takes about twice as long.
_base_ = ['./mocov2_resnet18-w16_1xb128-bnneck-coslr-7e_fmnist.py']
max_epochs = 4
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True,
    )
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
