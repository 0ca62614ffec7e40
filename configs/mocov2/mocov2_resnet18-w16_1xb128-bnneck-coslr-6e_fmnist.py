# MoCo v2 with the BN1d projection head (see ./mocov2_resnet18-w16_1xb128-bnneck-coslr-7e_fmnist.py)
# at 6 epochs: the baseline of the `csml-6e` comparison in docs/results/quality.md, CsMl's
# 6-epoch budget (the same images, iterations and augmentation).
_base_ = ['./mocov2_resnet18-w16_1xb128-bnneck-coslr-7e_fmnist.py']
max_epochs = 6
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
