# CsMl on Fashion-MNIST: the 4-epoch recipe of the `csml` comparison
# (./csml_resnet18-w16_1xb128-bnneck-coslr-4e_fmnist.py: SplitBN, BN1d in the projection MLP,
# no CutMix query, both queries, queue 4096, SGD 0.06 cosine, neighbours re-mined every epoch)
# run one epoch longer, 2,340 iterations: the `csml-5e` comparison of docs/results/quality.md,
# beside MoCo v2 at the same 5 epochs. About 1.25 times the 4-epoch run's time, which varies
# with the machine's hour (configs/csml/README.md gives the measured range).
_base_ = ['./csml_resnet18-w16_1xb128-bnneck-coslr-4e_fmnist.py']
max_epochs = 5
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
