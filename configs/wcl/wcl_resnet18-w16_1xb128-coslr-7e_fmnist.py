# WCL on Fashion-MNIST at the CPU budget (docs/results/quality.md), beside its SimCLR baseline
# (configs/simclr/simclr_resnet18-w16_1xb128-coslr-7e_fmnist.py) with the same backbone,
# views, optimiser (SGD lr 0.5, cosine; not LARS), epochs and instance temperature. Each head
# is a 2-layer MLP 128-256-64 like SimCLR's (the model: ../_base_/models/wcl_resnet18-w16.py,
# whose header gives the [DESIGN] choice of graph_weight 0.5). The MoCo v2 -> SimCLR
# augmentation switch is off here: both methods see the same views, so the comparison isolates
# the weak-label graph term.
_base_ = [
    '../_base_/models/wcl_resnet18-w16.py',
    '../_base_/datasets/fmnist_bs128_mocov2.py',
    '../_base_/schedules/sgd_coslr_fmnist-cpu.py',
    '../_base_/default_runtime.py',
]
max_epochs = 7
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
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=1, max_keep_ckpts=1))
custom_hooks = [
    dict(
        type='KNNEvalHook',
        interval=1,
        topk=(20,),
        before_train=True,
        train_dataloader={{_base_.monitor_knn_cfg.train_dataloader}},
        val_dataloader={{_base_.monitor_knn_cfg.val_dataloader}},
    ),
]
