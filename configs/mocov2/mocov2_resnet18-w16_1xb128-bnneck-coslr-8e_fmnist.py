# MoCo v2 on Fashion-MNIST: the 7-epoch recipe
# (./mocov2_resnet18-w16_1xb128-bnneck-coslr-7e_fmnist.py: BN1d in the projection MLP,
# SplitBN, queue 4096, m = 0.99, temperature 0.2, SGD 0.06 cosine) run one epoch longer,
# 3,744 iterations: the longest MoCo v2 run that fits about 10 minutes on 2 cores with the
# monitor (docs/results/quality.md, the `mocov2` comparison, where SimCLR keeps 7 epochs).
_base_ = ['./mocov2_resnet18-w16_1xb128-bnneck-coslr-7e_fmnist.py']
max_epochs = 8
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
