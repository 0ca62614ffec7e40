# A seconds-long WCL run on 64 embedded digits (tool tests): the augmentation switches from the
# MoCo v2 to the SimCLR pipeline at epoch 1.
_base_ = ['../../../configs/wcl/wcl_resnet18-w16_1xb64-lars-coslr-12e_digits.py']
model = dict(neck=dict(hid_channels=32, out_channels=16),
             graph_neck=dict(hid_channels=32, out_channels=16))
train_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    dataset=dict(indices=64))
train_cfg = dict(max_epochs=2)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=2, eta_min=0.0, by_epoch=True, begin=1, end=3,
         convert_to_iter_based=True),
]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=5))
custom_hooks = [dict(type='PipelineSwitchHook', switch_epochs=[1])]
randomness = dict(seed=1, deterministic=False)
knn_cfg = dict(
    train_dataloader=dict(batch_size=64, dataset=dict(indices=128)),
    val_dataloader=dict(batch_size=64, dataset=dict(indices=64)))
