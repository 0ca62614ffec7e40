# WCL on CIFAR-10: ResNet-18 with the CIFAR stem (3x3 conv, no max-pool), batch 256 on one GPU,
# LARS lr 0.075 * sqrt(256) = 1.2 (WCL's square-root rule), 10 warm-up epochs, MoCo v2 -> SimCLR
# switch at epoch 10, 200 epochs, heads 512 -> 2048 -> 2048 -> 128. The released code has no
# CIFAR recipe: these settings are our choice (configs/wcl/README.md), not the paper's.
_base_ = [
    '../_base_/models/wcl_resnet18-cifar.py',
    '../_base_/datasets/cifar10_bs256_wcl.py',
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
