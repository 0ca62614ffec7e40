# WCL on CIFAR-100: the CIFAR-10 recipe (wcl_resnet18-cifar_1xb256-lars-coslr-200e_cifar10.py;
# our settings, not the paper's: see configs/wcl/README.md).
_base_ = [
    '../_base_/models/wcl_resnet18-cifar.py',
    '../_base_/datasets/cifar100_bs256_wcl.py',
    '../_base_/schedules/lars_wcl_coslr-200e.py',
    '../_base_/default_runtime.py',
]
optim_wrapper = dict(optimizer=dict(lr=1.2))
auto_scale_lr = dict(base_batch_size=256)
custom_hooks = [
    dict(type='PipelineSwitchHook', switch_epochs=[10]),
    dict(
        type='KNNEvalHook',
        interval=10,
        topk=(200,),
        train_dataloader={{_base_.knn_cfg.train_dataloader}},
        val_dataloader={{_base_.knn_cfg.val_dataloader}},
    ),
]
