# CsMl on CIFAR-10: ResNet-18 with the CIFAR stem, queue 4096, 200 epochs.
_base_ = [
    '../_base_/models/csml_resnet18-cifar.py',
    '../_base_/datasets/cifar10_bs256_csml.py',
    '../_base_/schedules/sgd_coslr_200e.py',
    '../_base_/default_runtime.py',
]
optim_wrapper = dict(optimizer=dict(lr=0.06, weight_decay=5e-4))
custom_hooks = [
    dict(type='NeighbourMiningHook', interval=5, dataloader={{_base_.mining_dataloader}}),
    dict(
        type='KNNEvalHook',
        interval=10,
        topk=(200,),
        train_dataloader={{_base_.knn_cfg.train_dataloader}},
        val_dataloader={{_base_.knn_cfg.val_dataloader}},
    ),
]
