# Multi-level CsMl (HSA's hierarchy: losses after stages 3 and 4, one queue each) on
# Fashion-MNIST, two epochs longer than ./csml_resnet18-w16-multilevel_1xb128-bnneck-coslr-4e_fmnist.py
# (2,808 iterations): the `csml-6e` comparison of docs/results/quality.md, beside single-level
# CsMl and MoCo v2 at the same 6 epochs: 81.63 ± 0.54 kNN over 3 seeds, +5.54 over random
# init; about 9 minutes alone on 2 cores in a quiet hour, longer on a busy machine
# (configs/csml/README.md).
_base_ = ['./csml_resnet18-w16-multilevel_1xb128-bnneck-coslr-4e_fmnist.py']
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
