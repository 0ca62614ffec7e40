# WCL on CIFAR-100: the CIFAR-10 recipe (wcl_resnet18-cifar_1xb256-lars-coslr-200e_cifar10.py;
# our settings, not the paper's: see configs/wcl/README.md).
_base_ = [
    '../_base_/datasets/cifar100_bs256_wcl.py',
    '../_base_/schedules/lars_wcl_coslr-200e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='WCL',
    graph_weight=1.0,
    backbone=dict(type='ResNet_CIFAR', depth=18, norm_cfg=dict(type='BN'),
                  zero_init_residual=False),
    neck=dict(type='NonLinearNeck', in_channels=512, hid_channels=2048, out_channels=128,
              num_layers=3, with_bias=True, with_last_bias=True, with_last_bn=False,
              norm_cfg=dict(type='BN1d')),
    graph_neck=dict(type='NonLinearNeck', in_channels=512, hid_channels=2048, out_channels=128,
                    num_layers=3, with_bias=True, with_last_bias=True, with_last_bn=False,
                    norm_cfg=dict(type='BN1d')),
    head=dict(type='MultiPositiveContrastiveHead', temperature=0.1, mode='supcon'),
    graph_head=dict(type='KNNWeakLabelHead', temperature=0.1, num_neighbours=1))
optim_wrapper = dict(optimizer=dict(lr=1.2))
auto_scale_lr = dict(base_batch_size=256)
custom_hooks = [
    dict(type='PipelineSwitchHook', switch_epochs=[10]),
    dict(type='KNNEvalHook', interval=10, topk=(200, ),
         train_dataloader={{_base_.knn_cfg.train_dataloader}},
         val_dataloader={{_base_.knn_cfg.val_dataloader}}),
]
