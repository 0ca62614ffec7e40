# WCL on Fashion-MNIST at the CPU budget (docs/results/quality.md), beside its SimCLR baseline
# (configs/simclr/simclr_resnet18-w16_1xb128-coslr-7e_fmnist.py) with the same backbone,
# views, optimiser (SGD lr 0.5, cosine; not LARS), epochs and instance temperature. Each head
# is a 2-layer MLP 128-256-64 like SimCLR's. The MoCo v2 -> SimCLR augmentation switch is off
# here: both methods see the same views, so the comparison isolates the weak-label graph term.
# [DESIGN] graph_weight 0.5 (the released code uses 1): with a batch of 128 the 1-NN graph's
# components are small and noisy, and at weight 1 WCL ended 1.23 ± 0.69 kNN points below
# SimCLR (3 seeds, configs/wcl/README.md); 0.5 was the one other value tried.
_base_ = [
    '../_base_/datasets/fmnist_bs128_mocov2.py',
    '../_base_/schedules/sgd_coslr_fmnist-cpu.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='WCL',
    graph_weight=0.5,
    backbone=dict(type='ResNet', depth=18, base_channels=16, stem_channels=16,
                  norm_cfg=dict(type='BN'), zero_init_residual=False),
    neck=dict(type='NonLinearNeck', in_channels=128, hid_channels=256, out_channels=64,
              num_layers=2, with_avg_pool=True, norm_cfg=dict(type='BN1d')),
    graph_neck=dict(type='NonLinearNeck', in_channels=128, hid_channels=256, out_channels=64,
                    num_layers=2, with_avg_pool=True, norm_cfg=dict(type='BN1d')),
    head=dict(type='MultiPositiveContrastiveHead', temperature=0.2, mode='supcon'),
    graph_head=dict(type='KNNWeakLabelHead', temperature=0.1, num_neighbours=1))
max_epochs = 7
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, begin=0,
                        end=max_epochs, convert_to_iter_based=True)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=1, max_keep_ckpts=1))
custom_hooks = [
    dict(type='KNNEvalHook', interval=1, topk=(20, ), before_train=True,
         train_dataloader={{_base_.monitor_knn_cfg.train_dataloader}},
         val_dataloader={{_base_.monitor_knn_cfg.val_dataloader}}),
]
